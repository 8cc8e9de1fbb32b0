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

function took_ms(): float
{
    return mt_rand(100, 99999) / 1000;
}

function json_input(): array
{
    $data = json_decode(file_get_contents('php://input'), true);
    return is_array($data) ? $data : [];
}
