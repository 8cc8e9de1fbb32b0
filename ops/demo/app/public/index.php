<?php
/** The demo's home page: links to every endpoint and shows the CGI path variables. */

declare(strict_types=1);

function h(?string $text): string
{
    return $text === null ? '<em>unset</em>' : htmlspecialchars($text, ENT_QUOTES, 'UTF-8');
}

$links = [
    '/form.php' => 'Contact form (cookies, 303 redirect)',
    '/upload.php' => 'Multipart upload (POST)',
    '/validate.php' => 'Event validator (POST JSON)',
    '/stream.php' => 'Streamed response',
    '/info.php' => 'CGI variables as JSON',
    '/info.php/extra/path?x=1' => 'CGI variables with PATH_INFO',
    '/headers.php' => 'Several Set-Cookie and custom headers',
    '/redirect.php' => 'A 302 redirect',
    '/notfound.php' => 'A 404 from PHP',
    '/conf/secret.ini' => 'A denied file (403)',
];
$server = ['REQUEST_URI', 'SCRIPT_NAME', 'PATH_INFO', 'QUERY_STRING'];
header('Content-Type: text/html; charset=utf-8');
?>
<!doctype html>
<html>
<head>
  <meta charset="utf-8">
  <title>Strangler demo</title>
  <link rel="stylesheet" href="/assets/style.css">
  <script src="/assets/app.js" defer></script>
</head>
<body>
  <header><img src="/assets/logo.png" alt="logo" width="32" height="32"> <h1>Strangler demo</h1></header>
  <ul>
<?php foreach ($links as $href => $label): ?>
    <li><a href="<?= h($href) ?>"><?= h($label) ?></a></li>
<?php endforeach; ?>
  </ul>
  <table id="server">
<?php foreach ($server as $key): ?>
    <tr><th><?= $key ?></th><td><?= h($_SERVER[$key] ?? null) ?></td></tr>
<?php endforeach; ?>
  </table>
</body>
</html>
