"""themeassist: local first-pass thematic analysis that measures itself against human coders."""

from themeassist.offline import force_offline as _force_offline

__version__ = "0.1.0"

# No code path may reach a model hub: set the offline flags before anything imports
# huggingface_hub, transformers or sentence-transformers.
_force_offline()
