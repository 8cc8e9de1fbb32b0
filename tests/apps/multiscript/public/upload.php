<?php
/**
 * Avatar upload for the logged-in user (multipart field "avatar", at most
 * 1 MiB, .png/.jpg/.gif).  The file is stored under MULTISCRIPT_UPLOAD_DIR
 * (or the system temp dir) as <sha256>.<ext>; the answer is JSON.
 */

require __DIR__ . '/_common.php';

const MAX_AVATAR = 1024 * 1024;
const EXTENSIONS = ['png', 'jpg', 'gif'];

function store_avatar(array $file): array
{
    $ext = strtolower(pathinfo((string) $file['name'], PATHINFO_EXTENSION));
    if (!in_array($ext, EXTENSIONS, true)) {
        return [415, ['ok' => false, 'error' => 'only .png, .jpg and .gif avatars']];
    }
    if ($file['size'] > MAX_AVATAR) {
        return [413, ['ok' => false, 'error' => 'avatar larger than 1 MiB']];
    }
    $sha = hash_file('sha256', $file['tmp_name']);
    $stored = "$sha.$ext";
    if (!move_uploaded_file($file['tmp_name'], avatar_dir() . '/' . $stored)) {
        return [500, ['ok' => false, 'error' => 'cannot store the avatar']];
    }
    $_SESSION['avatar'] = ['name' => $file['name'], 'size' => $file['size'], 'stored' => $stored];
    return [201, ['ok' => true, 'name' => $file['name'], 'size' => $file['size'], 'sha256' => $sha, 'stored' => $stored]];
}

start_session();
if ($_SERVER['REQUEST_METHOD'] !== 'POST') {
    header('Allow: POST');
    json_response(405, ['ok' => false, 'error' => 'only POST is allowed']);
} elseif (current_user() === null) {
    json_response(401, ['ok' => false, 'error' => 'log in first']);
} elseif (!isset($_FILES['avatar']) || $_FILES['avatar']['error'] !== UPLOAD_ERR_OK) {
    json_response(400, ['ok' => false, 'error' => 'no avatar', 'code' => $_FILES['avatar']['error'] ?? UPLOAD_ERR_NO_FILE]);
} else {
    [$status, $payload] = store_avatar($_FILES['avatar']);
    json_response($status, $payload);
}
