<?php
// Shared by the noisy corpus. Every answer is logged (the X-Test-Id header, the method, the
// sha256 of the body) to $NOISY_LOG, so a test can tell how often legacy was asked for a
// request and which bytes it sent. The helpers make the noise a real legacy app makes.
function noisy_log(string $body): string
{
    $log = getenv('NOISY_LOG');
    if ($log) {
        $id = $_SERVER['HTTP_X_TEST_ID'] ?? '-';
        $line = sprintf("%s %s %s\n", $id, $_SERVER['REQUEST_METHOD'], hash('sha256', $body));
        file_put_contents($log, $line, FILE_APPEND | LOCK_EX);
    }
    return $body;
}
ob_start('noisy_log');

function uuid4(): string
{
    $b = random_bytes(16);
    $b[6] = chr(ord($b[6]) & 0x0f | 0x40);
    $b[8] = chr(ord($b[8]) & 0x3f | 0x80);
    return vsprintf('%s%s-%s-%s-%s-%s%s%s', str_split(bin2hex($b), 4));
}

function iso_now(): string
{
    $now = DateTime::createFromFormat('U.u', sprintf('%.6F', microtime(true)));
    return $now->format('Y-m-d\TH:i:s.u\Z');
}

// The number of this answer among all the app's answers (a counter file shared by the
// children). The varying parts below are drawn from it, not from a random source, so two
// answers fewer than 720 apart never coincide: a random shuffle of six items repeats once
// in 720 pairs, and a pair of legacy answers that happens to agree teaches no noise.
function answer_number(): int
{
    static $number = null;
    if ($number === null) {
        $log = getenv('NOISY_LOG');
        $file = fopen(($log ?: sys_get_temp_dir() . '/noisy') . '.count', 'c+');
        flock($file, LOCK_EX);
        $number = (int)stream_get_contents($file) + 1;
        ftruncate($file, 0);
        rewind($file);
        fwrite($file, (string)$number);
        flock($file, LOCK_UN);
        fclose($file);
    }
    return $number;
}

// A value in [$low, $high] that changes with every answer, as a timing does.
function varying(int $low, int $high): int
{
    return $low + answer_number() % ($high - $low + 1);
}

// $items in an order that changes with every answer: permutation number answer_number()
// (modulo count!), as a set read without ORDER BY comes back.
function reordered(array $items): array
{
    $n = answer_number();
    $out = [];
    while ($items) {
        $size = count($items);
        $pick = $n % $size;
        $n = intdiv($n, $size);
        $out[] = $items[$pick];
        array_splice($items, $pick, 1);
    }
    return $out;
}

function took_ms(): float
{
    return varying(100, 99999) / 1000;
}

function json_input(): array
{
    $data = json_decode(file_get_contents('php://input'), true);
    return is_array($data) ? $data : [];
}
