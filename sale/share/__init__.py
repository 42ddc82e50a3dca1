"""Share links: a paid order's public page and picture card, views and referred purchases."""
