<?php
// Sends a Content-Length that cannot frame the answer, as ?kind= says.
$kind = $_GET['kind'] ?? 'negative';
if ($kind === 'negative') {
    header('Content-Length: -1');
} else {
    header('Content-Length: 3');
    header('Content-Length: 4', false);
}
header('Content-Type: text/plain');
echo "abcd";
