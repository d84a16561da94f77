"""Ray Tune studies over the shield's settings and their result tables (the only Tune layer)."""
