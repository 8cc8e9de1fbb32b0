<?php
/** End the session (server side and cookie) and go back to the login form. */

require __DIR__ . '/_common.php';

start_session();
$_SESSION = [];
$params = session_get_cookie_params();
setcookie(session_name(), '', [
    'expires' => 1,
    'path' => $params['path'],
    'httponly' => $params['httponly'],
    'samesite' => $params['samesite'],
]);
session_destroy();
redirect('/login.php');
