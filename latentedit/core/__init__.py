"""The method's core: boundary maths, edit planning, mixing, inversion and detector training. No file I/O; errors
name the functions' own parameters."""
