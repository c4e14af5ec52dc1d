<?php
// govhost (cms): issue or revoke one WordPress application password of a site, run as the site's
// user. Input from the environment (never the command line); prints one JSON line, never the
// password. The app has its own WordPress user (GOVHOST_WP_APP_LOGIN) with the role asked for, so
// the password holds only that role's rights. The password is the panel's (shown once to the
// requester); WordPress stores only its hash, as its own create_new_application_password() does.
$env = function ($k) { return (string) getenv($k); };
$_SERVER['WORDPRESS_CONFIG'] = $env('GOVHOST_WP_CONFIG');
$_SERVER['HTTP_HOST'] = $_SERVER['SERVER_NAME'] = $env('GOVHOST_WP_HOST');
$_SERVER['REQUEST_URI'] = '/';
$_SERVER['REQUEST_METHOD'] = 'GET';
if (strpos($env('GOVHOST_WP_URL'), 'https://') === 0) {
    $_SERVER['HTTPS'] = 'on';
}

function done(array $answer, int $rc = 0): void
{
    echo json_encode($answer), "\n";
    exit($rc);
}

try {
    require '/usr/share/wordpress/wp-load.php';
    require_once ABSPATH . 'wp-admin/includes/user.php';
    $login = $env('GOVHOST_WP_APP_LOGIN');
    if (!preg_match('/^govhost-app-[0-9]{1,19}$/', $login)) {
        done(['error' => 'not an app login of govhost'], 2);
    }
    $user = get_user_by('login', $login);
    $key = WP_Application_Passwords::USERMETA_KEY_APPLICATION_PASSWORDS;

    if ($env('GOVHOST_WP_APP_ACTION') === 'revoke') {
        // Gone already (a retried job, or the user removed by hand) is revoked too.
        if ($user) {
            $uuid = $env('GOVHOST_WP_APP_UUID');
            $kept = array_values(array_filter(
                WP_Application_Passwords::get_user_application_passwords($user->ID),
                function ($item) use ($uuid) { return $item['uuid'] !== $uuid; }
            ));
            update_user_meta($user->ID, $key, $kept);
            $user->set_role('');  // no password left, no rights left: its posts stay
        }
        done(['revoked' => true]);
    }

    $role = $env('GOVHOST_WP_APP_ROLE');
    if (!in_array($role, ['author', 'contributor', 'editor'], true)) {
        done(['error' => 'unknown role'], 2);
    }
    $password = $env('GOVHOST_WP_APP_PASSWORD');
    if (!preg_match('/^[A-Za-z0-9]{24}$/', $password)) {
        done(['error' => 'the app password is not 24 letters and digits'], 2);
    }
    if (!$user) {
        $id = wp_insert_user([
            'user_login' => $login,
            'user_pass' => wp_generate_password(64, true, true),  // never used: the app logs in by its app password
            'display_name' => $env('GOVHOST_WP_APP_NAME'),
            'role' => $role,
        ]);
        if (is_wp_error($id)) {
            done(['error' => $id->get_error_message()], 1);
        }
        $user = get_user_by('id', $id);
    } else {
        $user->set_role($role);
    }
    $items = WP_Application_Passwords::get_user_application_passwords($user->ID);
    foreach ($items as $item) {  // a retried job finds its own password set already
        if (wp_check_password($password, $item['password'], $user->ID)) {
            done(['uuid' => $item['uuid'], 'user_id' => $user->ID]);
        }
    }
    $item = [
        'uuid' => wp_generate_uuid4(),
        'app_id' => '',
        'name' => sanitize_text_field($env('GOVHOST_WP_APP_NAME')),
        'password' => wp_hash_password($password),
        'created' => time(),
        'last_used' => null,
        'last_ip' => null,
    ];
    $items[] = $item;
    if (!update_user_meta($user->ID, $key, $items)) {
        done(['error' => 'the application password could not be saved'], 1);
    }
    $network = get_main_network_id();
    if (!get_network_option($network, WP_Application_Passwords::OPTION_KEY_IN_USE)) {
        update_network_option($network, WP_Application_Passwords::OPTION_KEY_IN_USE, true);
    }
    done(['uuid' => $item['uuid'], 'user_id' => $user->ID]);
} catch (Throwable $e) {
    done(['error' => get_class($e) . ': ' . $e->getMessage()], 1);
}
