<?php
// A vote by POST: not idempotent (each one counts), so legacy must never see it twice.
require __DIR__ . '/_noisy.php';
$in = json_input();
header('Content-Type: application/json');
echo json_encode([
    'ok' => true,
    'choice' => (string)($in['choice'] ?? ''),
    'vote_id' => uuid4(),
    'at' => iso_now(),
]), "\n";
