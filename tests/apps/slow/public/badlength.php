<?php
// Sends a Content-Length that cannot frame the answer, as ?kind= says:
// negative, two different ones, or one that the body (?n= bytes) overruns
// (long) or falls short of (short).
$kind = $_GET['kind'] ?? 'negative';
$n = intval($_GET['n'] ?? '4');
if ($kind === 'negative') {
    header('Content-Length: -1');
} elseif ($kind === 'two') {
    header('Content-Length: 3');
    header('Content-Length: 4', false);
} elseif ($kind === 'long') {
    header('Content-Length: 2');
} else {
    header('Content-Length: ' . ($n + 10));
}
header('Content-Type: text/plain');
echo $kind === 'negative' || $kind === 'two' ? "abcd" : str_repeat("a", $n);
