<?php
/**
 * A streamed response: ?chunks=N (1..50, default 5) lines, flushed one by
 * one with ?delay_ms=M (0..1000, default 50) between them.  PHP's own output
 * buffers are closed first so flush() reaches the web server at once; whether
 * the client sees chunks early then depends on the server's buffering.
 */

declare(strict_types=1);

function int_param(string $name, int $default, int $min, int $max): int
{
    $value = filter_var($_GET[$name] ?? $default, FILTER_VALIDATE_INT);
    return $value === false ? $default : max($min, min($max, $value));
}

$chunks = int_param('chunks', 5, 1, 50);
$delay = int_param('delay_ms', 50, 0, 1000);
while (ob_get_level() > 0) {
    ob_end_flush();
}
header('Content-Type: text/plain; charset=utf-8');
header('X-Accel-Buffering: no');
for ($i = 1; $i <= $chunks; $i++) {
    echo "chunk $i of $chunks\n";
    flush();
    if ($i < $chunks) {
        usleep($delay * 1000);
    }
}
