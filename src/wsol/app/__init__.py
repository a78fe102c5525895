"""The application layer: config schema, run objects built once from it, the preflight, the
pipeline and its stages. Libraries (cam, localize, metrics, models, datasets) never import it."""
