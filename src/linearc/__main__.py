"""python -m linearc: the walk-through this project started from."""
from linearc._demo import main

main()
