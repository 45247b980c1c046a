"""Generation: strategies, prompts, providers, the response cache, budgets and the async engine.

The spec's `generation` section chooses and weights the strategies (default:
seed_variation only); every candidate row records its strategy, its seeds and,
in `params.attributes`, the attribute values, scenario, evolution operation or
distillation input it was asked for::

    generation:
      records_per_label: 30            # or total_records for an instruction dataset
      seeds_per_prompt: 3
      max_failure_rate: 0.5
      strategies:
        - {name: seed_variation, weight: 0.4}
        - {name: class_balance, weight: 0.2, target: uniform}     # or {label: share, ...}
        - name: attributes
          weight: 0.2
          attributes: {tone: [polite, angry, casual], channel: [email, chat]}
          scenarios: ["no order number", "two problems in one message"]
        - {name: evolution, weight: 0.1, operations: [harder, more_specific, more_diverse]}
        - {name: distillation, weight: 0.1, inputs_file: inbox.jsonl}   # teacher: {...}
      budget: {max_calls: 5000, max_tokens: 2000000, max_cost: 5.0}
    provider:
      kind: openai                      # embedded (default), openai, openai_compatible
      model: gpt-4o-mini
      api_key_env: OPENAI_API_KEY       # the key itself only ever lives in the environment
      temperature: 0.9
      top_p: 0.95
      max_tokens: 160
      seed: 0
      prices: {gpt-4o-mini: {prompt_per_million: 0.15, completion_per_million: 0.6}}

Modules: `planner` (requests and their stable identities), `prompts` and
`templates/` (one jinja2 file per strategy), `schema` (the response models),
`providers` and `embedded`, `cache` (content-addressed answers in DuckDB),
`limiter` (AIMD concurrency), `ledger` (the call journal, usage per version
and strategy, budgets), `engine` (the async run), `run` (one version end to end).
"""
