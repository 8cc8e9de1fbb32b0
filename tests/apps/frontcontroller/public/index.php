<?php
/**
 * A tiny front-controller "framework": every URL that is not a file reaches
 * this script (nginx: try_files $uri $uri/ /index.php?$query_string), which
 * routes on the path of REQUEST_URI.  Routes:
 *   GET  /               home page
 *   GET  /users/{id}     a user page
 *   GET  /posts?page=N   a paged list
 *   GET  /api/items      JSON list;  POST /api/items  JSON in, 201 JSON out
 *   GET  /old            301 to /new;  GET /new  the new page
 *   anything else        the framework's own 404 page
 */

declare(strict_types=1);

const ITEMS = [['id' => 1, 'name' => 'apple'], ['id' => 2, 'name' => 'pear']];
const JSON_FLAGS = JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE;

function h(string $text): string
{
    return htmlspecialchars($text, ENT_QUOTES | ENT_SUBSTITUTE, 'UTF-8');
}

function html(int $status, string $title, string $body): void
{
    http_response_code($status);
    header('Content-Type: text/html; charset=utf-8');
    header('X-Framework: tiny');
    echo "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>", h($title),
        "</title><link rel=\"stylesheet\" href=\"/assets/app.css\"></head>\n<body>\n",
        $body, "\n</body></html>\n";
}

function json(int $status, array $payload): void
{
    http_response_code($status);
    header('Content-Type: application/json');
    header('X-Framework: tiny');
    echo json_encode($payload, JSON_FLAGS);
}

function home(): void
{
    html(200, 'Home', "<h1>Home</h1>\n<p id=\"script\">" . h($_SERVER['SCRIPT_NAME']) . "</p>\n"
        . '<a href="/users/42">user 42</a> <a href="/posts?page=2">posts</a>');
}

function user(string $id): void
{
    html(200, "User $id", '<h1>User <span id="user-id">' . h($id) . '</span></h1>');
}

function posts(): void
{
    $page = max(1, (int) ($_GET['page'] ?? 1));
    $first = ($page - 1) * 10 + 1;
    $items = implode('', array_map(fn ($n) => "<li>Post $n</li>", range($first, $first + 9)));
    html(200, "Posts, page $page", "<h1>Posts</h1>\n<p id=\"page\">page $page</p>\n<ul>$items</ul>");
}

function create_item(): void
{
    $data = json_decode((string) file_get_contents('php://input'), true);
    if (!is_array($data) || !is_string($data['name'] ?? null) || $data['name'] === '') {
        json(422, ['error' => 'name (a non-empty string) is required']);
        return;
    }
    header('Location: /api/items/3');
    json(201, ['id' => 3, 'name' => $data['name']]);
}

function not_found(string $path): void
{
    html(404, 'Not found', '<h1>Not found</h1><p>No route for <code>' . h($path) . '</code>.</p>');
}

function dispatch(string $method, string $path): void
{
    if ($path === '/' && $method === 'GET') {
        home();
    } elseif (preg_match('~\A/users/([0-9]+)\z~', $path, $m) === 1 && $method === 'GET') {
        user($m[1]);
    } elseif ($path === '/posts' && $method === 'GET') {
        posts();
    } elseif ($path === '/api/items' && $method === 'GET') {
        json(200, ['items' => ITEMS]);
    } elseif ($path === '/api/items' && $method === 'POST') {
        create_item();
    } elseif ($path === '/old') {
        header('Location: /new', true, 301);
    } elseif ($path === '/new' && $method === 'GET') {
        html(200, 'New', '<h1>The new page</h1>');
    } else {
        not_found($path);
    }
}

$path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);
dispatch($_SERVER['REQUEST_METHOD'], is_string($path) ? rawurldecode($path) : '/');
