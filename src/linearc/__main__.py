"""python -m linearc: the walk-through this project started from."""
from linearc._demo import main

if __name__ == "__main__":  # not when imported (stubtest imports every module)
    main()
