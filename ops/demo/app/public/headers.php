<?php
/**
 * Several Set-Cookie headers with different attributes, a repeated custom
 * header and a few ordinary ones: a proxy must pass every one of them through.
 */

setcookie('plain', 'one');
setcookie('scoped', 'two', ['path' => '/app', 'httponly' => true]);
setcookie('strict', 'three', ['path' => '/', 'secure' => true, 'samesite' => 'Strict']);
setcookie('expired', '', ['expires' => 1, 'path' => '/']);
header('X-Demo: headers');
header('X-Multi: first', false);
header('X-Multi: second', false);
header('Cache-Control: no-cache, must-revalidate');
header('Content-Language: en');
header('Content-Type: text/plain; charset=utf-8');
echo "see the headers\n";
