<?php
/**
 * What PHP sees of the request (the CGI params a front controller routes on)
 * and what json_decode($body, false, 512) makes of the body, as JSON.  Run as
 * the front controller (index.php) or as a per-path script (script.php); the
 * handler tests.migrated.php_view_handlers:echo answers the same from
 * Request.php and migrated.php, so the two can be compared byte for byte.
 */

declare(strict_types=1);

$server = [];
foreach (['REQUEST_URI', 'SCRIPT_NAME', 'PATH_INFO', 'SCRIPT_FILENAME', 'DOCUMENT_URI', 'QUERY_STRING'] as $name) {
    $server[$name] = $_SERVER[$name] ?? null;
}
$body = file_get_contents('php://input');
$error = null;
if ($body !== '') {
    json_decode($body, false, 512);
    $error = json_last_error();
}
header('Content-Type: application/json');
echo json_encode(['server' => $server, 'json_error' => $error], JSON_UNESCAPED_SLASHES);
