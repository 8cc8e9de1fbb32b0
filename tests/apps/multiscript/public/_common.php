<?php
/**
 * Shared helpers of the multi-script app (included, never requested: the
 * leading underscore is only a convention, the file is harmless if served).
 */

declare(strict_types=1);

const USERS = ['alice' => 'wonderland', 'bob' => 'builder'];

function start_session(): void
{
    session_set_cookie_params(['path' => '/', 'httponly' => true, 'samesite' => 'Lax']);
    session_start();
}

function current_user(): ?string
{
    return isset($_SESSION['user']) && is_string($_SESSION['user']) ? $_SESSION['user'] : null;
}

function h(string $text): string
{
    return htmlspecialchars($text, ENT_QUOTES | ENT_SUBSTITUTE, 'UTF-8');
}

function page(string $title, string $body): void
{
    header('Content-Type: text/html; charset=utf-8');
    echo "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>", h($title),
        "</title><link rel=\"stylesheet\" href=\"/css/site.css\"></head>\n<body>\n",
        $body, "\n</body></html>\n";
}

function json_response(int $status, array $payload): void
{
    http_response_code($status);
    header('Content-Type: application/json');
    echo json_encode($payload, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);
}

function redirect(string $location): void
{
    header("Location: $location", true, 302);
}

function avatar_dir(): string
{
    $dir = getenv('MULTISCRIPT_UPLOAD_DIR') ?: sys_get_temp_dir() . '/multiscript-avatars';
    if (!is_dir($dir)) {
        mkdir($dir, 0700, true);
    }
    return $dir;
}
