"""The instance as its admins run it: model backends added at runtime, limits overridden."""
