"""python -m linearc: the walk-through this project started from;
python -m linearc tune: measure this machine's block sizes (linearc.tune)."""
import sys


def _main() -> None:
    if sys.argv[1:2] == ["tune"]:
        from linearc._tune import main as tune_main
        tune_main(sys.argv[2:])
    else:
        from linearc._demo import main
        main()


if __name__ == "__main__":  # not when imported (stubtest imports every module)
    _main()
