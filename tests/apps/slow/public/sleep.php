<?php
// Holds a PHP-FPM child for ?ms= milliseconds (default 1000), for busy-pool and shutdown tests.
// ?started=NAME first creates NAME in the system temp dir, so a test knows the script runs.
$ms = max(0, min(10000, (int)($_GET['ms'] ?? 1000)));
$started = basename((string)($_GET['started'] ?? ''));
if ($started !== '') {
    touch(sys_get_temp_dir() . '/' . $started);
}
usleep($ms * 1000);
header('Content-Type: text/plain');
echo "slept {$ms}ms\n";
