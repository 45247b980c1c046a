"""Generation: providers, prompts, the response cache and the async engine."""
