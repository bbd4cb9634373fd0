"""``latentedit studio``: a local web editor (the session in :mod:`.session`, the HTTP app in :mod:`.app`)."""
