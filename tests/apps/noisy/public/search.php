<?php
// A search by POST (idempotent: it changes nothing): results in an order that changes, a timing, a uuid.
require __DIR__ . '/_noisy.php';
$in = json_input();
$results = reordered(['A-1', 'B-2', 'C-3', 'D-4', 'E-5', 'F-6']);
header('Content-Type: application/json');
echo json_encode([
    'query' => (string)($in['q'] ?? ''),
    'results' => $results,
    'took_ms' => took_ms(),
    'request_id' => uuid4(),
]), "\n";
