<?php
/**
 * Multipart upload: answers JSON with each file's field, name, size, type and
 * sha256, plus the other form fields.  Any UPLOAD_ERR_* (or no file at all)
 * gives 400 with the error's name; anything but POST gives 405.
 */

declare(strict_types=1);

const JSON_FLAGS = JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE;
const UPLOAD_ERRORS = [
    UPLOAD_ERR_INI_SIZE => 'UPLOAD_ERR_INI_SIZE',
    UPLOAD_ERR_FORM_SIZE => 'UPLOAD_ERR_FORM_SIZE',
    UPLOAD_ERR_PARTIAL => 'UPLOAD_ERR_PARTIAL',
    UPLOAD_ERR_NO_FILE => 'UPLOAD_ERR_NO_FILE',
    UPLOAD_ERR_NO_TMP_DIR => 'UPLOAD_ERR_NO_TMP_DIR',
    UPLOAD_ERR_CANT_WRITE => 'UPLOAD_ERR_CANT_WRITE',
    UPLOAD_ERR_EXTENSION => 'UPLOAD_ERR_EXTENSION',
];

function respond(int $status, array $payload): void
{
    http_response_code($status);
    header('Content-Type: application/json');
    echo json_encode($payload, JSON_FLAGS);
}

/** Flatten $_FILES (single fields and name[] arrays) into one list, in form order. */
function uploaded_files(): array
{
    $files = [];
    foreach ($_FILES as $field => $entry) {
        if (!is_array($entry['name'])) {
            $files[] = ['field' => (string) $field] + $entry;
            continue;
        }
        foreach (array_keys($entry['name']) as $i) {
            $files[] = [
                'field' => "{$field}[{$i}]",
                'name' => $entry['name'][$i],
                'type' => $entry['type'][$i],
                'tmp_name' => $entry['tmp_name'][$i],
                'error' => $entry['error'][$i],
                'size' => $entry['size'][$i],
            ];
        }
    }
    return $files;
}

function describe(array $file): array
{
    return [
        'field' => $file['field'],
        'name' => $file['name'],
        'size' => $file['size'],
        'type' => $file['type'],
        'sha256' => hash_file('sha256', $file['tmp_name']),
    ];
}

function main(): void
{
    if ($_SERVER['REQUEST_METHOD'] !== 'POST') {
        header('Allow: POST');
        respond(405, ['ok' => false, 'error' => 'only POST is allowed']);
        return;
    }
    $files = uploaded_files();
    if ($files === []) {
        respond(400, ['ok' => false, 'error' => 'UPLOAD_ERR_NO_FILE', 'field' => null]);
        return;
    }
    foreach ($files as $file) {
        if ($file['error'] !== UPLOAD_ERR_OK) {
            $name = UPLOAD_ERRORS[$file['error']] ?? 'UPLOAD_ERR_UNKNOWN';
            respond(400, ['ok' => false, 'error' => $name, 'field' => $file['field']]);
            return;
        }
    }
    respond(200, [
        'ok' => true,
        'files' => array_map('describe', $files),
        'fields' => (object) $_POST,
    ]);
}

main();
