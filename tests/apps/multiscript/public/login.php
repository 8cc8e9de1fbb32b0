<?php
/** GET: the login form.  POST: check the hard-coded users, start a session, go to the profile. */

require __DIR__ . '/_common.php';

function login_form(string $error = ''): void
{
    $message = $error === '' ? '' : '<p class="error">' . h($error) . "</p>\n";
    page('Log in', $message . <<<'HTML'
<h1>Log in</h1>
<form method="post" action="/login.php">
  <label>User <input name="user" required></label>
  <label>Password <input name="password" type="password" required></label>
  <button type="submit">Log in</button>
</form>
HTML);
}

if ($_SERVER['REQUEST_METHOD'] !== 'POST') {
    login_form();
    return;
}
$user = (string) ($_POST['user'] ?? '');
$password = (string) ($_POST['password'] ?? '');
if (!isset(USERS[$user]) || !hash_equals(USERS[$user], $password)) {
    http_response_code(401);
    login_form('Unknown user or wrong password.');
    return;
}
start_session();
session_regenerate_id(true);
$_SESSION['user'] = $user;
$_SESSION['logins'] = ($_SESSION['logins'] ?? 0) + 1;
redirect('/profile.php');
