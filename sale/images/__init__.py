"""Product pictures of drops: checked and resized with Pillow, stored under content-hash names."""
