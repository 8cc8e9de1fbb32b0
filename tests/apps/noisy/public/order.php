<?php
// An order as JSON: stable fields, and the noise of a busy app (a request uuid, ISO and
// microsecond epoch times, a timing, a hex trace id, a set in changing order).
require __DIR__ . '/_noisy.php';
$id = max(1, (int)($_GET['id'] ?? 1));
$tags = reordered(['red', 'green', 'blue', 'cyan', 'plum', 'teal']);
header('Content-Type: application/json');
echo json_encode([
    'id' => $id,
    'name' => "Zo\u{00EB} #$id",
    'total' => $id * 7,
    'request_id' => uuid4(),
    'created' => iso_now(),
    'epoch_us' => (int)(microtime(true) * 1000000),
    'took_ms' => took_ms(),
    'trace' => bin2hex(random_bytes(12)),
    'tags' => $tags,
], JSON_UNESCAPED_UNICODE), "\n";
