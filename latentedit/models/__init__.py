"""The networks: generators, face detection and alignment, the face-analysis object, attribute scorers, the
real-or-fake detector and the inversion's encoder and feature loss."""
