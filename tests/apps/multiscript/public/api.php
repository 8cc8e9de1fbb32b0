<?php
/**
 * A tiny JSON API dispatched on PATH_INFO: /api.php/users, /api.php/users/7.
 * Relies on the web server splitting "/api.php/users/7" into SCRIPT_NAME and
 * PATH_INFO (nginx: fastcgi_split_path_info).
 */

require __DIR__ . '/_common.php';

const PEOPLE = [
    1 => ['id' => 1, 'name' => 'Alice', 'role' => 'admin'],
    7 => ['id' => 7, 'name' => 'Bob', 'role' => 'editor'],
    9 => ['id' => 9, 'name' => 'Chloé', 'role' => 'viewer'],
];

$path = $_SERVER['PATH_INFO'] ?? '';
if ($_SERVER['REQUEST_METHOD'] !== 'GET') {
    header('Allow: GET');
    json_response(405, ['error' => 'only GET is allowed']);
} elseif ($path === '' || $path === '/') {
    json_response(200, ['endpoints' => ['/api.php/users', '/api.php/users/{id}']]);
} elseif ($path === '/users') {
    json_response(200, ['users' => array_values(PEOPLE)]);
} elseif (preg_match('~\A/users/([0-9]+)\z~', $path, $m) === 1 && isset(PEOPLE[(int) $m[1]])) {
    json_response(200, ['user' => PEOPLE[(int) $m[1]], 'path_info' => $path]);
} else {
    json_response(404, ['error' => 'not found', 'path_info' => $path]);
}
