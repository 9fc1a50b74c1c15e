"""Entry point on the board: run the meter; on any crash, log it and reboot
(so boot.py can count the attempt and roll back a bad OTA update)."""

import sys


def run():
    try:
        import app

        app.main()
    except KeyboardInterrupt:
        raise
    except Exception as e:
        sys.print_exception(e)
        try:
            with open("crash.log", "w") as f:
                sys.print_exception(e, f)
        except OSError:
            pass
        import board

        board.reboot(delay_s=5)


run()
