<?php
/**
 * The CGI variables PHP saw, as JSON, so tests can compare what nginx and the
 * strangler pass to PHP-FPM.  Missing $_SERVER keys are null; HTTP_* keys are
 * sorted.  php://input is reported by length and sha256 (empty for
 * multipart/form-data, which PHP consumes itself).
 */

declare(strict_types=1);

const KEYS = [
    'REQUEST_URI', 'SCRIPT_NAME', 'SCRIPT_FILENAME', 'PHP_SELF', 'PATH_INFO',
    'PATH_TRANSLATED', 'DOCUMENT_URI', 'DOCUMENT_ROOT', 'QUERY_STRING',
    'REQUEST_METHOD', 'REQUEST_SCHEME', 'CONTENT_TYPE', 'CONTENT_LENGTH', 'HTTPS',
    'REMOTE_ADDR', 'SERVER_ADDR', 'SERVER_NAME', 'SERVER_PORT', 'SERVER_PROTOCOL',
    'GATEWAY_INTERFACE', 'REDIRECT_STATUS',
];

$server = [];
foreach (KEYS as $key) {
    $server[$key] = $_SERVER[$key] ?? null;
}
$headers = array_filter($_SERVER, fn ($key) => str_starts_with((string) $key, 'HTTP_'), ARRAY_FILTER_USE_KEY);
ksort($headers, SORT_STRING);
$input = (string) file_get_contents('php://input');

header('Content-Type: application/json');
echo json_encode([
    'server' => $server,
    'headers' => (object) $headers,
    'get' => (object) $_GET,
    'post' => (object) $_POST,
    'cookie' => (object) $_COOKIE,
    'input_length' => strlen($input),
    'input_sha256' => hash('sha256', $input),
], JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_PRETTY_PRINT), "\n";
