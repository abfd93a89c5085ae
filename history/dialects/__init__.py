"""The four peer dialects of the run history (seeds 001–004), each a renderer, a pager and a thin view."""
