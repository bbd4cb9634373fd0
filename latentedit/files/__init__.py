"""Reading what users give (images, code arrays, boundaries, weights, JSON records) and writing outputs
all-or-nothing."""
