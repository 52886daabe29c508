"""The Kaggle API as this tool uses it: kagglehub's calls, credentials, endpoint and log.

Everything that depends on how kagglehub 1.x and its kagglesdk behave is here, so that a new
kagglehub is adapted in one module. Credentials are kagglehub's (KAGGLE_USERNAME and
KAGGLE_KEY, ~/.kaggle/kaggle.json, or an API token). `KAGGLE_API_ENDPOINT=http://host:port`
sends every request there instead of Kaggle: kagglehub 1.x no longer reads that variable
(kagglesdk picks endpoints from a fixed table by KAGGLE_API_ENVIRONMENT), so `api_endpoint`
points the table's LOCALHOST entry at it, and refuses if this kagglesdk has no such table,
rather than publish somewhere unintended. docs/publishing.md lists what kagglehub sends.
"""

import contextlib
import importlib
import logging
import os
from typing import Optional
from typing import TextIO

from export.base import errors
from export.kaggle import metadata
from export.pipeline import transfer

ENDPOINT_VARIABLE = "KAGGLE_API_ENDPOINT"
_ENVIRONMENT_VARIABLE = "KAGGLE_API_ENVIRONMENT"  # kagglesdk's choice among its endpoints
# kagglesdk's endpoint when KAGGLE_API_ENVIRONMENT is unset (tests/test_kaggle_dry_run.py
# checks it against kagglesdk's table): the dry run names it without kagglesdk installed.
PRODUCTION_ENDPOINT = "https://api.kaggle.com"
CLIENT_MODULES = ("kagglehub", "kagglesdk")
INSTALL_HINT = "pip install -e '.[kaggle]'"


class UploadError(errors.Failure):
  """Nothing more can be uploaded (credentials, endpoint, record); one line."""


class MissingCredentials(UploadError):
  """kagglehub finds no credentials (or an unreadable kaggle.json); one line."""


class MissingClient(UploadError):
  """kagglehub or kagglesdk is not installed (the `kaggle` extra); one line."""


def require_client() -> None:
  """MissingClient unless the upload client imports. Only uploads need it: everything else
  here imports kagglehub and kagglesdk inside the functions that send requests."""
  for name in CLIENT_MODULES:
    try:
      importlib.import_module(name)
    except ImportError as error:
      missing = (getattr(error, "name", None) or name).split(".")[0]  # kagglehub needs kagglesdk
      raise MissingClient(
        f"--upload needs {' and '.join(CLIENT_MODULES)}, but {missing} is not installed: "
        f"install the kaggle extra ({INSTALL_HINT}); the dry run (without --upload) needs "
        f"neither"
      ) from None


def endpoint_name() -> str:
  """The API endpoint an upload would send to, as uploads.json records it; kagglesdk's choice
  when it is installed, else what it would choose (the dry run works without it)."""
  url = os.environ.get(ENDPOINT_VARIABLE)
  if url:
    try:
      transfer.check_base_url(url)  # an http(s) URL with a host, as a download mirror's
    except ValueError:
      raise UploadError(f"{ENDPOINT_VARIABLE}={url}: not an http:// or https:// URL") from None
    return url.rstrip("/")
  try:
    from kagglesdk import kaggle_env  # pylint: disable=g-import-not-at-top
  except ImportError:
    environment = os.environ.get(_ENVIRONMENT_VARIABLE, "PROD")
    return (
      PRODUCTION_ENDPOINT if environment == "PROD" else f"{_ENVIRONMENT_VARIABLE}={environment}"
    )
  return kaggle_env.get_endpoint(kaggle_env.get_env())


def credentials_source() -> str:
  """Where kagglehub finds credentials, for messages; MissingCredentials when there are none."""
  from kagglehub import config  # pylint: disable=g-import-not-at-top

  try:
    credentials = config.get_kaggle_credentials()
  except ValueError as error:
    raise MissingCredentials(str(error).splitlines()[0]) from None
  if credentials is None:
    half = [name for name in ("KAGGLE_USERNAME", "KAGGLE_KEY") if not os.environ.get(name)]
    if len(half) == 1:  # the other one is set: the user meant to use these
      raise MissingCredentials(
        f"{half[0]} is not set (the other of KAGGLE_USERNAME and KAGGLE_KEY is): set both"
      )
    raise MissingCredentials(
      "no Kaggle credentials: set KAGGLE_USERNAME and KAGGLE_KEY, or "
      "save kaggle.json (kaggle.com/settings, Create New Token) in "
      "~/.kaggle/ or $KAGGLE_CONFIG_DIR"
    )
  if credentials.api_key:
    return "an API token (KAGGLE_API_TOKEN or ~/.kaggle/access_token)"
  if os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"):
    return f"KAGGLE_USERNAME={credentials.username} and KAGGLE_KEY"
  folder = os.environ.get("KAGGLE_CONFIG_DIR", os.path.expanduser("~/.kaggle"))
  return f"{os.path.join(folder, 'kaggle.json')} (user {credentials.username})"


@contextlib.contextmanager
def api_endpoint(url: Optional[str]):
  """Within the block kagglesdk sends requests to `url` (if given); yields the endpoint used."""
  from kagglesdk import kaggle_env  # pylint: disable=g-import-not-at-top

  if not url:
    yield kaggle_env.get_endpoint(kaggle_env.get_env())
    return
  table = getattr(kaggle_env, "_env_to_endpoint", None)
  local = getattr(kaggle_env.KaggleEnv, "LOCAL", None)
  if not isinstance(table, dict) or local not in table:
    raise UploadError(
      f"{ENDPOINT_VARIABLE}={url}: this kagglesdk cannot be pointed elsewhere; "
      f"unset it to publish to Kaggle"
    )
  saved_url, saved_environment = table[local], os.environ.get(_ENVIRONMENT_VARIABLE)
  table[local] = url.rstrip("/")
  os.environ[_ENVIRONMENT_VARIABLE] = "LOCALHOST"
  try:
    yield table[local]
  finally:
    table[local] = saved_url
    if saved_environment is None:
      os.environ.pop(_ENVIRONMENT_VARIABLE, None)
    else:
      os.environ[_ENVIRONMENT_VARIABLE] = saved_environment


@contextlib.contextmanager
def kagglehub_log_to(stream: TextIO):
  """kagglehub logs to sys.stdout, where --json prints the plan: send it to `stream` meanwhile."""
  # Importing kagglehub installs its handler; before that there is nothing to redirect.
  import kagglehub  # noqa: F401  # pylint: disable=g-import-not-at-top,unused-import

  handlers = [
    h for h in logging.getLogger("kagglehub").handlers if type(h) is logging.StreamHandler
  ]  # pylint: disable=unidiomatic-typecheck
  previous = [h.setStream(stream) for h in handlers]
  try:
    yield
  finally:
    for handler, old in zip(handlers, previous, strict=True):
      if old is not None:  # None: the stream was `stream` already
        handler.setStream(old)


def status_code(error) -> Optional[int]:
  """The HTTP status of a requests/kagglehub error, if it has a response."""
  response = getattr(error, "response", None)
  return getattr(response, "status_code", None)


def one_line(error: Exception) -> str:
  """An error as one line for the outcome table (kagglehub's messages span several)."""
  code = status_code(error)
  text = " ".join(str(error).split()) or type(error).__name__
  return f"HTTP {code}: {text}" if code and str(code) not in text[:20] else text


class KaggleApi:
  """The Kaggle API calls, through kagglehub and the kagglesdk client it builds."""

  def __init__(self):
    from kagglehub import clients  # pylint: disable=g-import-not-at-top
    from kagglehub import exceptions  # pylint: disable=g-import-not-at-top
    from kagglesdk.models.types import model_api_service  # pylint: disable=g-import-not-at-top

    self._clients, self._exceptions, self._types = clients, exceptions, model_api_service

  def _call(self, method: str, handler, **fields):
    """Sends Api<method>Request with `fields` through kagglehub's client, its errors handled
    by `handler`: handle_call for reads, handle_mutate_call for changes, as kagglehub does."""
    request = getattr(self._types, f"Api{method}Request")()
    for name, value in fields.items():
      setattr(request, name, value)
    with self._clients.build_kaggle_client() as client:
      send = getattr(client.models.model_api_client, _snake(method))
      return handler(lambda: send(request))

  def _get(self, method: str, **fields):
    return self._call(method, self._exceptions.handle_call, **fields)

  def _mutate(self, method: str, **fields) -> dict:
    return self._call(method, self._exceptions.handle_mutate_call, **fields)

  def model_exists(self, owner: str, model: str) -> bool:
    try:
      self._get("GetModel", owner_slug=owner, model_slug=model)
    except self._exceptions.KaggleApiHTTPError as error:
      if status_code(error) in (403, 404):  # as kagglehub decides to create one
        return False
      raise
    return True

  def create_model(self, model_json: dict) -> None:
    self._mutate(
      "CreateModel",
      owner_slug=model_json["ownerSlug"],
      slug=model_json["slug"],
      title=model_json["title"],
      subtitle=model_json["subtitle"],
      is_private=model_json["isPrivate"],
      description=model_json["description"],
      provenance_sources=model_json["provenanceSources"],
    )

  def latest_version(self, handle: str) -> int:
    """The instance's latest version number; 0 if it does not exist."""
    owner, model, _, variation = handle.split("/")
    from kagglehub import handle as handle_lib  # pylint: disable=g-import-not-at-top

    try:
      instance = self._get(
        "GetModelInstance",
        owner_slug=owner,
        model_slug=model,
        framework=handle_lib.parse_model_handle(handle).framework_enum(),
        instance_slug=variation,
      )
    except self._exceptions.KaggleApiHTTPError as error:
      if status_code(error) == 404:
        return 0
      raise
    return instance.version_number or 0

  def upload(self, handle: str, directory: str, license_name: str, notes: str) -> None:
    import kagglehub  # pylint: disable=g-import-not-at-top

    kagglehub.model_upload(
      handle,
      directory,
      license_name=license_name,
      version_notes=notes,
      ignore_patterns=list(metadata.METADATA_FILES),
    )

  def update_instance(self, instance_json: dict) -> None:
    from google.protobuf import field_mask_pb2  # pylint: disable=g-import-not-at-top
    from kagglehub import handle as handle_lib  # pylint: disable=g-import-not-at-top

    handle = "/".join(
      instance_json[k] for k in ("ownerSlug", "modelSlug", "framework", "instanceSlug")
    )
    fields = {
      "overview": instance_json["overview"],
      "usage": instance_json["usage"],
      "fine_tunable": instance_json["fineTunable"],
      "training_data": instance_json["trainingData"],
      "license_name": instance_json["licenseName"],
    }
    self._mutate(
      "UpdateModelInstance",
      owner_slug=instance_json["ownerSlug"],
      model_slug=instance_json["modelSlug"],
      framework=handle_lib.parse_model_handle(handle).framework_enum(),
      instance_slug=instance_json["instanceSlug"],
      update_mask=field_mask_pb2.FieldMask(paths=sorted(fields)),
      **fields,
    )


def _snake(method: str) -> str:
  """GetModelInstance -> get_model_instance: the kagglesdk client's method names."""
  return "".join(f"_{c.lower()}" if c.isupper() else c for c in method).lstrip("_")
