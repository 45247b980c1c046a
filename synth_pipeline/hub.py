"""Push an `hf` export folder to a dataset repository on the Hugging Face Hub.

The token comes from the environment (HF_TOKEN) and never reaches logs, messages or files;
HF_ENDPOINT, read when the push starts, points the client at another Hub (a local one in the
tests). The repository is created when missing (`exist_ok`), then the folder's files are
committed in one commit.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TOKEN_ENV = "HF_TOKEN"
ENDPOINT_ENV = "HF_ENDPOINT"


class HubError(RuntimeError):
    """A push that cannot start or that the Hub refused; the message names why."""


@dataclass
class PushResult:
    repo_id: str
    repo_url: str
    commit_url: str
    files: list[str]


def hub_token() -> str:
    """The token from HF_TOKEN; a HubError naming the variable when it is unset."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise HubError(f"--push-to-hub needs a Hugging Face token in the {TOKEN_ENV} variable")
    return token


def check_repo_id(repo_id: str) -> str:
    parts = repo_id.split("/")
    if len(parts) != 2 or not all(parts) or any(c.isspace() for c in repo_id):
        raise HubError(f"not a Hub repository id: {repo_id!r} (expected owner/name)")
    return repo_id


def push_folder(
    folder: Path | str,
    repo_id: str,
    *,
    token: str | None = None,
    private: bool | None = None,
    commit_message: str | None = None,
) -> PushResult:
    """Create the dataset repository `repo_id` if needed and commit the folder's files."""
    check_repo_id(repo_id)
    token = token or hub_token()
    folder = Path(folder)
    if not folder.is_dir():
        raise HubError(f"{folder} is not a folder to push")
    try:
        from huggingface_hub import HfApi
        from huggingface_hub.errors import HfHubHTTPError
    except ImportError as e:  # pragma: no cover - pinned in requirements.lock
        raise HubError(f"huggingface_hub is not installed: {e}") from e

    endpoint = os.environ.get(ENDPOINT_ENV) or None  # None: the client's default Hub
    api = HfApi(endpoint=endpoint, token=token)
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    try:
        repo_url = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        commit = api.upload_folder(
            repo_id=repo_id,
            repo_type="dataset",
            folder_path=folder,
            commit_message=commit_message or f"Upload {folder.name} with synth_pipeline",
        )
    except HfHubHTTPError as e:
        status = e.response.status_code if e.response is not None else "?"
        # The client's message names the URL and the server's reason; never the token.
        raise HubError(f"the Hub refused the push to {repo_id} (HTTP {status}): {e}") from e
    return PushResult(
        repo_id=repo_id, repo_url=str(repo_url), commit_url=commit.commit_url, files=files
    )


__all__ = ["ENDPOINT_ENV", "TOKEN_ENV", "HubError", "PushResult", "hub_token", "push_folder"]
