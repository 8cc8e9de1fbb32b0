<?php
// Holds a PHP-FPM child for ?ms= milliseconds (default 1000), for busy-pool and shutdown tests.
$ms = max(0, min(10000, (int)($_GET['ms'] ?? 1000)));
usleep($ms * 1000);
header('Content-Type: text/plain');
echo "slept {$ms}ms\n";
