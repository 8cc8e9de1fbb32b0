<?php
// A plain-text status page with a time, a hex request id and a timing on their lines.
require __DIR__ . '/_noisy.php';
header('Content-Type: text/plain; charset=UTF-8');
echo "status report\n";
echo "generated " . iso_now() . "\n";
echo "request " . bin2hex(random_bytes(8)) . "\n";
echo "workers 4\n";
echo "queue depth 3\n";
echo "took " . varying(1, 999) . " ms\n";
