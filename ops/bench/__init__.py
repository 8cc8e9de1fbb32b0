# The benchmark: nginx + PHP-FPM against strangler on the same PHP-FPM (see bench.py).
