<?php
/**
 * A classic form round trip: GET shows the form, POST sets two cookies and
 * answers 303 See Other (post/redirect/get), GET ?done=1 thanks the user from
 * the flash cookie and clears it.  The hidden token is deterministic (an HMAC
 * of a fixed string) so nginx and the strangler give identical pages.
 */

declare(strict_types=1);

const FORM_SECRET = 'demo-form-secret';

function form_token(): string
{
    return hash_hmac('sha256', 'contact-form', FORM_SECRET);
}

function h(string $text): string
{
    return htmlspecialchars($text, ENT_QUOTES | ENT_SUBSTITUTE, 'UTF-8');
}

function page(string $title, string $body): void
{
    header('Content-Type: text/html; charset=utf-8');
    echo "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>", h($title), "</title>",
        "<link rel=\"stylesheet\" href=\"/assets/style.css\"></head>\n<body>\n",
        $body, "\n</body></html>\n";
}

function show_form(string $error = ''): void
{
    $message = $error === '' ? '' : '<p class="error">' . h($error) . "</p>\n";
    $token = h(form_token());
    page('Contact', $message . <<<HTML
<h1>Contact</h1>
<form method="post" action="/form.php">
  <input type="hidden" name="token" value="{$token}">
  <label>Name <input name="name" required></label>
  <label>Email <input name="email" type="email" required></label>
  <button type="submit">Send</button>
</form>
HTML);
}

function handle_post(): void
{
    $name = trim((string) ($_POST['name'] ?? ''));
    $email = trim((string) ($_POST['email'] ?? ''));
    if (!hash_equals(form_token(), (string) ($_POST['token'] ?? ''))) {
        http_response_code(400);
        show_form('The form expired, please send it again.');
        return;
    }
    if ($name === '' || filter_var($email, FILTER_VALIDATE_EMAIL) === false) {
        http_response_code(422);
        show_form('Please give a name and a valid email address.');
        return;
    }
    $options = ['path' => '/', 'httponly' => true, 'samesite' => 'Lax'];
    setcookie('session', sha1($name . "\n" . $email), $options);
    setcookie('flash', "Thanks, $name!", $options);
    header('Location: /form.php?done=1', true, 303);
}

function show_thanks(): void
{
    $flash = (string) ($_COOKIE['flash'] ?? 'Thanks!');
    setcookie('flash', '', ['expires' => 1, 'path' => '/', 'httponly' => true, 'samesite' => 'Lax']);
    page('Thank you', '<h1>' . h($flash) . "</h1>\n<p><a href=\"/\">Back home</a></p>");
}

if ($_SERVER['REQUEST_METHOD'] === 'POST') {
    handle_post();
} elseif (($_GET['done'] ?? '') === '1') {
    show_thanks();
} else {
    show_form();
}
