<?php
// govhost (cms): dump or restore one site's database with the site's own credentials, run as the
// site's user: `php wp-db.php dump > FILE`, `php wp-db.php restore < FILE` (GOVHOST_WP_CONFIG names
// the site's config). The password never leaves the host: it goes to mysqldump/mysql in a defaults
// file of the site's user (0600), removed at the end; no shell runs in between.
// A restore leaves the database as the snapshot was: once the dump went in, a table or view it does
// not hold (made since, e.g. by the version being rolled back) is dropped. `dump-users` dumps only
// the users tables and `restore-users` puts them back, nothing else touched (a push keeps the live
// site's own users and passwords).
$config = (string) getenv('GOVHOST_WP_CONFIG');
$mode = $argv[1] ?? '';
if (!preg_match('/^[a-z][a-z0-9_-]{0,31}$/', $config)
    || !in_array($mode, ['dump', 'restore', 'dump-users', 'restore-users'], true)) {
    fwrite(STDERR, "usage: GOVHOST_WP_CONFIG=<site user> php wp-db.php dump|restore|dump-users|restore-users\n");
    exit(2);
}
require "/etc/wordpress/config-$config.php";
$defaults = tempnam(sys_get_temp_dir(), 'govhost-db-');
chmod($defaults, 0600);
[$host, $port] = array_pad(explode(':', DB_HOST, 2), 2, '');
file_put_contents(
    $defaults,
    "[client]\nuser=" . DB_USER . "\npassword=" . DB_PASSWORD . "\nhost=$host\n" . ($port !== '' ? "port=$port\n" : '')
);

// Tables and views of the database that the snapshot does not hold, dropped; 0 or 1.
function drop_others(string $host, string $port, array $keep): int
{
    try {
        mysqli_report(MYSQLI_REPORT_ERROR | MYSQLI_REPORT_STRICT);
        $db = new mysqli($host, DB_USER, DB_PASSWORD, DB_NAME, $port !== '' ? (int) $port : 3306);
        $db->query('SET FOREIGN_KEY_CHECKS = 0');
        foreach ($db->query('SHOW FULL TABLES')->fetch_all() as [$name, $type]) {
            if (!isset($keep[$name])) {
                $db->query(($type === 'VIEW' ? 'DROP VIEW ' : 'DROP TABLE ') . '`' . str_replace('`', '``', $name) . '`');
            }
        }
        $db->close();
        return 0;
    } catch (Throwable $e) {
        fwrite(STDERR, 'restore: the tables made after the snapshot could not be dropped: ' . $e->getMessage() . "\n");
        return 1;
    }
}

if ($mode === 'dump' || $mode === 'dump-users') {
    $argv2 = ['mysqldump', "--defaults-extra-file=$defaults", '--single-transaction', '--no-tablespaces',
              '--skip-dump-date', '--default-character-set=utf8mb4', DB_NAME];
    if ($mode === 'dump-users') {
        $argv2[] = $table_prefix . 'users';
        $argv2[] = $table_prefix . 'usermeta';
    }
    $proc = proc_open($argv2, [0 => STDIN, 1 => STDOUT, 2 => STDERR], $pipes);
    $rc = is_resource($proc) ? proc_close($proc) : 127;
} elseif ($mode === 'restore-users') {
    $argv2 = ['mysql', "--defaults-extra-file=$defaults", '--default-character-set=utf8mb4', DB_NAME];
    $proc = proc_open($argv2, [0 => STDIN, 1 => STDOUT, 2 => STDERR], $pipes);
    $rc = is_resource($proc) ? proc_close($proc) : 127;
} else {
    // The dump streams through to mysql; its CREATE TABLE lines name what the database keeps
    // (mysqldump makes a stand-in table for each view too).
    $argv2 = ['mysql', "--defaults-extra-file=$defaults", '--default-character-set=utf8mb4', DB_NAME];
    $proc = proc_open($argv2, [0 => ['pipe', 'r'], 1 => STDOUT, 2 => STDERR], $pipes);
    $rc = 127;
    if (is_resource($proc)) {
        $keep = [];
        while (($line = fgets(STDIN)) !== false) {
            if (preg_match('/^CREATE TABLE `((?:[^`]|``)+)`/', $line, $m)) {
                $keep[str_replace('``', '`', $m[1])] = true;
            }
            if (fwrite($pipes[0], $line) === false) {
                break;
            }
        }
        fclose($pipes[0]);
        $rc = proc_close($proc);
        if ($rc === 0) {
            $rc = drop_others($host, $port, $keep);
        }
    }
}
unlink($defaults);
exit($rc);
