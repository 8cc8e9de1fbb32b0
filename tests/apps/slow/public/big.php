<?php
// ?kib=N (1..16384, default 4096) KiB of a repeating pattern, flushed 64 KiB at a time:
// an answer far larger than any socket buffer, for back-pressure tests.
$kib = max(1, min(16384, (int)($_GET['kib'] ?? 4096)));
while (ob_get_level() > 0) {
    ob_end_flush();
}
header('Content-Type: application/octet-stream');
$block = str_repeat('0123456789abcdef', 4096);  // 64 KiB
for ($i = 0; $i < intdiv($kib, 64); $i++) {
    echo $block;
    flush();
}
echo str_repeat('x', ($kib % 64) * 1024);
