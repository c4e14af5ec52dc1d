#!powershell
# govhost_iis_sites: every site of one IIS host in ONE module call (docs: govhost_iis_sites.yml,
# docs/windows.md). A module call over SSH costs about 0.1-0.2 s whatever it does; the roles it
# replaces made about 15 per site. Each site is applied on its own with an undo list: a site that
# fails gets back what this call changed for it and its error is returned; the others go on.
# It uses the WebAdministration cmdlets the microsoft.iis modules use. It has never run on Windows
# here (no Windows, no PowerShell on the build machine): the wire tests check what is sent to it.

#AnsibleRequires -CSharpUtil Ansible.Basic

$bindingSpec = @{
    port = @{ type = 'int'; required = $true }
    hostname = @{ type = 'str'; required = $true }
    protocol = @{ type = 'str'; required = $true; choices = @('http', 'https') }
    use_sni = @{ type = 'bool'; default = $false }
    certificate_store_name = @{ type = 'str'; default = 'WebHosting' }
    certificate_hash = @{ type = 'str'; default = '' }
}
$sftpSpec = @{
    user = @{ type = 'str'; required = $true }
    keys = @{ type = 'list'; elements = 'str'; default = @() }
    match = @{ type = 'list'; elements = 'str'; required = $true }
}
$siteSpec = @{
    name = @{ type = 'str'; required = $true }
    pool = @{ type = 'str'; required = $true }
    state = @{ type = 'str'; required = $true; choices = @('active', 'suspended', 'absent') }
    hostnames = @{ type = 'list'; elements = 'str'; required = $true }
    bindings = @{ type = 'list'; elements = 'dict'; required = $true; options = $bindingSpec }
    runtime = @{ type = 'str'; default = ''; choices = @('', 'v2.0', 'v4.0') }
    quota_mb = @{ type = 'int'; required = $true }
    path = @{ type = 'str'; required = $true }
    wwwroot = @{ type = 'str'; required = $true }
    logs = @{ type = 'str'; required = $true }
    archive = @{ type = 'str'; required = $true }
    sftp = @{ type = 'dict'; required = $true; options = $sftpSpec }
}
$spec = @{
    options = @{
        sites = @{ type = 'list'; elements = 'dict'; required = $true; options = $siteSpec }
        root = @{ type = 'str'; required = $true }
        suspended_pool = @{ type = 'str'; required = $true }
        suspended_path = @{ type = 'str'; required = $true }
        admins = @{ type = 'list'; elements = 'str'; required = $true }
        sftp = @{ type = 'bool'; default = $false }
        sshd_config = @{ type = 'str'; default = 'C:\ProgramData\ssh\sshd_config' }
        sshd_path = @{ type = 'str'; default = 'C:\Windows\System32\OpenSSH\sshd.exe' }
        keys_dir = @{ type = 'str'; default = 'C:\ProgramData\ssh\govhost_keys' }
    }
    supports_check_mode = $false
}
$module = [Ansible.Basic.AnsibleModule]::Create($args, $spec)
$ErrorActionPreference = 'Stop'

$p = $module.Params
$module.Result.applied = @()
$module.Result.failed_sites = @{}
$module.Result.archives = @{}
$module.Result.sftp_users = @()
$module.Result.sshd_changed = $false

# The panel checked every value; checked again so nothing odd becomes a path, an account or a name.
$FqdnRe = '^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$'
$Root = $p.root.TrimEnd('\') + '\'
$MaxQuotaMb = 10000000  # the panel's largest plan (API: disk_mb at most 10^7)

function Assert-Entry($Site) {
    if ($Site.name -notmatch $FqdnRe) { throw "refused site name '$($Site.name)'" }
    if ($Site.pool -cnotmatch '^site[0-9]{1,9}$') { throw "refused pool name '$($Site.pool)'" }
    if ($Site.sftp.user -cnotmatch '^sftp[0-9]{1,9}$') { throw "refused account name '$($Site.sftp.user)'" }
    if ($Site.quota_mb -lt 1 -or $Site.quota_mb -gt $MaxQuotaMb) { throw "refused disk quota $($Site.quota_mb) MB" }
    foreach ($h in $Site.hostnames) { if ($h -notmatch $FqdnRe) { throw "refused host name '$h'" } }
    foreach ($b in $Site.bindings) {
        if ($b.hostname -notmatch $FqdnRe) { throw "refused binding host name '$($b.hostname)'" }
        if ($b.certificate_hash -and $b.certificate_hash -notmatch '^[0-9A-Fa-f]{40}$') { throw "refused thumbprint" }
    }
    foreach ($f in @($Site.path, $Site.wwwroot, $Site.logs, $Site.archive)) {
        if (-not $f.StartsWith($Root, [StringComparison]::OrdinalIgnoreCase) -or $f.Contains('..') -or
            $f.Length -gt 248) {
            throw "refused path '$f' (outside $Root)"
        }
    }
    if (-not $Site.wwwroot.StartsWith($Site.path + '\') -or -not $Site.logs.StartsWith($Site.path + '\')) {
        throw "refused folders: wwwroot and logs must lie in the site's folder"
    }
}

# ---- one site's undo list: what this call changed for it, undone in reverse if it fails ----------

# A holder the functions change in place (no scope modifiers: the exec wrapper decides the scopes).
$State = @{ Undo = New-Object System.Collections.Generic.List[scriptblock] }
function Add-Undo([scriptblock]$Block) { $State.Undo.Insert(0, $Block) }

function Invoke-Undo {
    $errors = @()
    foreach ($block in $State.Undo) {
        try { & $block } catch { $errors += $_.Exception.Message }
    }
    $State.Undo.Clear()
    return $errors
}

function Wait-Iis([scriptblock]$Block) {
    # WAS takes a moment to see a pool or site just committed: its state reads fail until then.
    for ($i = 0; ; $i++) {
        try { return & $Block } catch { if ($i -ge 20) { throw } ; Start-Sleep -Milliseconds 250 }
    }
}

# ---- folders and rights ---------------------------------------------------------------------------

function Set-Folder([string]$Path) {
    if (Test-Path -LiteralPath $Path -PathType Container) { return $false }
    [void][System.IO.Directory]::CreateDirectory($Path)
    Add-Undo { if (Test-Path -LiteralPath $Path) { [System.IO.Directory]::Delete($Path, $true) } }.GetNewClosure()
    return $true
}

function Set-Rights([string]$Path, [object[]]$Rules, [bool]$Protect) {
    # Only the DACL ('Access'): Get-Acl's owner section makes Set-Acl fail for folders others own.
    $item = Get-Item -LiteralPath $Path
    $acl = $item.GetAccessControl('Access')
    $before = $acl.GetSecurityDescriptorSddlForm('Access')
    if ($Protect) { $acl.SetAccessRuleProtection($true, $false) }  # inherited rules cut, not copied
    foreach ($r in $Rules) {
        $acl.AddAccessRule((New-Object System.Security.AccessControl.FileSystemAccessRule(
            $r[0], $r[1], $r[2], 'None', 'Allow')))
    }
    if ($acl.GetSecurityDescriptorSddlForm('Access') -ceq $before) { return $false }
    $item.SetAccessControl($acl)
    Add-Undo {
        $i = Get-Item -LiteralPath $Path
        $a = $i.GetAccessControl('Access')
        $a.SetSecurityDescriptorSddlForm($before, 'Access')
        $i.SetAccessControl($a)
    }.GetNewClosure()
    return $true
}

# ---- disk quota: the plan's size as a hard FSRM quota on the site's folder ------------------------
# Hard: writes past it fail for every account, the site's code, its SFTP account and IIS's own log
# writer alike (logs lie in the folder). A limit below what the folder holds is taken (FSRM allows
# it); nothing more can be written there until files are removed or the plan grows.

function Set-Quota([string]$Path, [int]$Mb) {
    $bytes = [uint64]$Mb * 1MB
    $q = Get-FsrmQuota -Path $Path -ErrorAction SilentlyContinue
    if ($null -eq $q) {
        New-FsrmQuota -Path $Path -Size $bytes -Description 'govhost: the site plan''s disk size' | Out-Null
        Add-Undo { Remove-FsrmQuota -Path $Path -Confirm:$false }.GetNewClosure()
        return $true
    }
    if ($q.Size -eq $bytes -and -not $q.SoftLimit -and -not $q.Disabled) { return $false }
    $old = @{ Size = $q.Size; SoftLimit = [bool]$q.SoftLimit; Disabled = [bool]$q.Disabled }
    Set-FsrmQuota -Path $Path -Size $bytes -SoftLimit:$false -Disabled:$false | Out-Null
    Add-Undo {
        Set-FsrmQuota -Path $Path -Size $old.Size -SoftLimit:$old.SoftLimit -Disabled:$old.Disabled | Out-Null
    }.GetNewClosure()
    return $true
}

function Remove-Quota([string]$Path) {
    # No FSRM, no quota to remove (a host bootstrapped before quotas; its live sites fail until then).
    if ($null -eq (Get-Command Get-FsrmQuota -ErrorAction SilentlyContinue)) { return $false }
    $q = Get-FsrmQuota -Path $Path -ErrorAction SilentlyContinue
    if ($null -eq $q) { return $false }
    $size, $soft = $q.Size, [bool]$q.SoftLimit
    Remove-FsrmQuota -Path $Path -Confirm:$false
    Add-Undo { New-FsrmQuota -Path $Path -Size $size -SoftLimit:$soft | Out-Null }.GetNewClosure()
    return $true
}

# ---- application pool -----------------------------------------------------------------------------

function Set-Pool([string]$Name, [string]$Runtime, [bool]$Active) {
    $changed = $false
    $path = "IIS:\AppPools\$Name"
    $pool = Get-Item -LiteralPath $path -ErrorAction SilentlyContinue
    if ($null -eq $pool) {
        New-WebAppPool -Name $Name | Out-Null
        Add-Undo { Remove-WebAppPool -Name $Name }.GetNewClosure()
        $changed = $true
        $old = $null
    } else {
        $old = @{
            managedRuntimeVersion = $pool.managedRuntimeVersion; managedPipelineMode = $pool.managedPipelineMode
            'processModel.identityType' = $pool.processModel.identityType; autoStart = $pool.autoStart
            started = ((Get-WebAppPoolState -Name $Name).Value -eq 'Started')
        }
    }
    $want = [ordered]@{
        managedRuntimeVersion = $Runtime; managedPipelineMode = 'Integrated'
        'processModel.identityType' = 'ApplicationPoolIdentity'; autoStart = $Active
    }
    foreach ($key in $want.Keys) {
        $now = Get-ItemProperty -LiteralPath $path -Name $key
        if ($null -ne $now -and $now.PSObject.Properties.Name -contains 'Value') { $now = $now.Value }
        if ("$now" -ne "$($want[$key])") {
            Set-ItemProperty -LiteralPath $path -Name $key -Value $want[$key]
            $changed = $true
        }
    }
    if ($null -ne $old -and $changed) {
        Add-Undo {
            foreach ($key in @('managedRuntimeVersion', 'managedPipelineMode', 'processModel.identityType', 'autoStart')) {
                Set-ItemProperty -LiteralPath "IIS:\AppPools\$Name" -Name $key -Value $old[$key]
            }
        }.GetNewClosure()
    }
    $state = Wait-Iis { (Get-WebAppPoolState -Name $Name).Value }
    if ($Active -and $state -ne 'Started') {
        Start-WebAppPool -Name $Name | Out-Null
        if ($null -ne $old) { Add-Undo { Stop-WebAppPool -Name $Name }.GetNewClosure() }
        $changed = $true
    } elseif (-not $Active -and $state -eq 'Started') {
        Stop-WebAppPool -Name $Name | Out-Null
        Add-Undo { Start-WebAppPool -Name $Name }.GetNewClosure()
        $changed = $true
    }
    return $changed
}

# ---- website: bindings, folder and pool, log folder -----------------------------------------------

function Get-BindingKey($Binding) {
    # protocol|ip:port:host|sslFlags|thumbprint: what a binding is, in one comparable string.
    "$($Binding.protocol)|$($Binding.bindingInformation)|$([int]$Binding.sslFlags)|$("$($Binding.certificateHash)".ToUpper())"
}

function Add-Binding([string]$Site, $B) {
    $flags = if ($B.use_sni) { 1 } else { 0 }
    New-WebBinding -Name $Site -IPAddress '*' -Port $B.port -HostHeader $B.hostname -Protocol $B.protocol -SslFlags $flags |
        Out-Null
    if ($B.certificate_hash) {
        $made = Get-WebBinding -Name $Site -IPAddress '*' -Port $B.port -HostHeader $B.hostname -Protocol $B.protocol
        $made.AddSslCertificate($B.certificate_hash, $B.certificate_store_name)
    }
}

function Set-Bindings([string]$Site, [object[]]$Wanted) {
    $now = @(Get-WebBinding -Name $Site | ForEach-Object { Get-BindingKey $_ }) | Sort-Object
    $want = @($Wanted | ForEach-Object {
        $key = @{ protocol = $_.protocol; bindingInformation = "*:$($_.port):$($_.hostname)"
                  sslFlags = $(if ($_.use_sni) { 1 } else { 0 }); certificateHash = $_.certificate_hash }
        Get-BindingKey $key
    }) | Sort-Object
    if (($now -join "`n") -ceq ($want -join "`n")) { return $false }
    $saved = @(Get-WebBinding -Name $Site | ForEach-Object {
        @{ protocol = $_.protocol; info = $_.bindingInformation; flags = [int]$_.sslFlags
           hash = "$($_.certificateHash)"; store = "$($_.certificateStoreName)" }
    })
    Get-WebBinding -Name $Site | Remove-WebBinding
    Add-Undo {
        Get-WebBinding -Name $Site | Remove-WebBinding
        foreach ($b in $saved) {
            $ip, $port, $hostname = $b.info -split ':', 3
            New-WebBinding -Name $Site -IPAddress $ip -Port $port -HostHeader $hostname -Protocol $b.protocol -SslFlags $b.flags |
                Out-Null
            if ($b.hash) {
                (Get-WebBinding -Name $Site -IPAddress $ip -Port $port -HostHeader $hostname -Protocol $b.protocol
                ).AddSslCertificate($b.hash, $b.store)
            }
        }
    }.GetNewClosure()
    foreach ($b in $Wanted) { Add-Binding $Site $b }
    return $true
}

function Set-Website($Site, [string]$Folder, [string]$Pool) {
    $changed = $false
    $path = "IIS:\Sites\$($Site.name)"
    $web = Get-Item -LiteralPath $path -ErrorAction SilentlyContinue
    if ($null -eq $web) {
        $params = @{ Name = $Site.name; PhysicalPath = $Folder; ApplicationPool = $Pool }
        # New-Website fails on a server with no site at all unless it is given an id
        if ($null -eq (Get-ChildItem -LiteralPath IIS:\Sites)) { $params.ID = 1 }
        New-Website @params -Force | Out-Null
        Add-Undo { Remove-Website -Name $Site.name }.GetNewClosure()
        Get-WebBinding -Name $Site.name | Remove-WebBinding  # New-Website's default *:80: binding
        $changed = $true
    } else {
        foreach ($pair in @(@('physicalPath', $Folder), @('applicationPool', $Pool), @('logFile.directory', $Site.logs))) {
            $old = Get-ItemProperty -LiteralPath $path -Name $pair[0]
            if ($null -ne $old -and $old.PSObject.Properties.Name -contains 'Value') { $old = $old.Value }
            if ("$old" -ne $pair[1]) {
                Set-ItemProperty -LiteralPath $path -Name $pair[0] -Value $pair[1]
                $key = $pair[0]
                Add-Undo { Set-ItemProperty -LiteralPath $path -Name $key -Value $old }.GetNewClosure()
                $changed = $true
            }
        }
    }
    if ($changed -and $null -eq $web) { Set-ItemProperty -LiteralPath $path -Name 'logFile.directory' -Value $Site.logs }
    if (Set-Bindings $Site.name $Site.bindings) { $changed = $true }
    if ((Wait-Iis { (Get-WebsiteState -Name $Site.name).Value }) -ne 'Started') {
        Start-Website -Name $Site.name | Out-Null
        $changed = $true
    }
    return $changed
}

# ---- SFTP account and keys (the Match blocks are written for every site at the end) ---------------

function Set-SftpUser([string]$Name) {
    if ($null -ne (Get-LocalUser -Name $Name -ErrorAction SilentlyContinue)) { return $false }
    # Keys only: the password is random, never stored, never used.
    $bytes = New-Object byte[] 30
    [System.Security.Cryptography.RandomNumberGenerator]::Create().GetBytes($bytes)
    $secret = ConvertTo-SecureString ([Convert]::ToBase64String($bytes) + 'aA1!') -AsPlainText -Force
    New-LocalUser -Name $Name -Password $secret -PasswordNeverExpires -UserMayNotChangePassword `
        -Description 'govhost SFTP account of one website' | Out-Null
    Add-Undo { Remove-LocalUser -Name $Name }.GetNewClosure()
    return $true
}

function Set-TextFile([string]$Path, [string]$Text) {
    $old = if (Test-Path -LiteralPath $Path) { [System.IO.File]::ReadAllText($Path) } else { $null }
    if ($old -ceq $Text) { return $false }
    [System.IO.File]::WriteAllText($Path, $Text, (New-Object System.Text.UTF8Encoding $false))
    if ($null -eq $old) {
        Add-Undo { Remove-Item -LiteralPath $Path -Force }.GetNewClosure()
    } else {
        Add-Undo { [System.IO.File]::WriteAllText($Path, $old, (New-Object System.Text.UTF8Encoding $false)) }.GetNewClosure()
    }
    return $true
}

# ---- per site: live (active or suspended) and deleted ---------------------------------------------

function Set-LiveSite($Site) {
    $active = $Site.state -eq 'active'
    $changed = $false
    foreach ($f in @($Site.path, $Site.wwwroot, $Site.logs)) { if (Set-Folder $f) { $changed = $true } }
    if (Set-Quota $Site.path $Site.quota_mb) { $changed = $true }
    if (Set-Pool $Site.pool $Site.runtime $active) { $changed = $true }
    # The folder: inheritance cut; Administrators and SYSTEM full control, its own pool reads.
    $rules = @($p.admins | ForEach-Object { , @($_, 'FullControl', 'ContainerInherit, ObjectInherit') })
    $rules += , @("IIS AppPool\$($Site.pool)", 'ReadAndExecute', 'ContainerInherit, ObjectInherit')
    if ($p.sftp) {
        if (Set-SftpUser $Site.sftp.user) { $changed = $true }
        $rules += , @($Site.sftp.user, 'ReadAndExecute', 'None')  # lists its folder (the chroot) only
    }
    if (Set-Rights $Site.path $rules $true) { $changed = $true }
    if ($p.sftp) {
        if (Set-Rights $Site.wwwroot @(, @($Site.sftp.user, 'Modify', 'ContainerInherit, ObjectInherit')) $false) { $changed = $true }
        if (Set-Rights $Site.logs @(, @($Site.sftp.user, 'ReadAndExecute', 'ContainerInherit, ObjectInherit')) $false) { $changed = $true }
        $keys = -join ($Site.sftp.keys | ForEach-Object { "$_`n" })
        if (Set-TextFile (Join-Path $p.keys_dir $Site.sftp.user) $keys) { $changed = $true }
    }
    $folder, $pool = if ($active) { $Site.wwwroot, $Site.pool } else { $p.suspended_path, $p.suspended_pool }
    if (Set-Website $Site $folder $pool) { $changed = $true }
    return $changed
}

function Remove-Site($Site) {
    # The archive first (undone by deleting it); the folder is removed last, once all else is gone.
    $changed = $false
    if (Test-Path -LiteralPath $Site.path -PathType Container) {
        if (Test-Path -LiteralPath $Site.archive) { throw "archive $($Site.archive) exists already" }
        Add-Type -AssemblyName System.IO.Compression.FileSystem
        [void][System.IO.Directory]::CreateDirectory([System.IO.Path]::GetDirectoryName($Site.archive))
        [System.IO.Compression.ZipFile]::CreateFromDirectory($Site.path, $Site.archive)
        $zip = $Site.archive
        Add-Undo { Remove-Item -LiteralPath $zip -Force }.GetNewClosure()
        $module.Result.archives[$Site.name] = $Site.archive
        $changed = $true
    }
    if ($null -ne (Get-Item -LiteralPath "IIS:\Sites\$($Site.name)" -ErrorAction SilentlyContinue)) {
        Remove-Website -Name $Site.name
        $changed = $true
    }
    if ($null -ne (Get-Item -LiteralPath "IIS:\AppPools\$($Site.pool)" -ErrorAction SilentlyContinue)) {
        Remove-WebAppPool -Name $Site.pool
        $changed = $true
    }
    if ($p.sftp) {
        $keys = Join-Path $p.keys_dir $Site.sftp.user
        if (Test-Path -LiteralPath $keys) { Remove-Item -LiteralPath $keys -Force; $changed = $true }
        if ($null -ne (Get-LocalUser -Name $Site.sftp.user -ErrorAction SilentlyContinue)) {
            Remove-LocalUser -Name $Site.sftp.user
            $changed = $true
        }
    }
    if (Remove-Quota $Site.path) { $changed = $true }
    if (Test-Path -LiteralPath $Site.path) { Remove-Item -LiteralPath $Site.path -Recurse -Force; $changed = $true }
    return $changed
}

# ---- sshd Match blocks: one candidate for every applied site, `sshd -t` before it is saved --------

function Get-Config([string]$Text, [object[]]$Sites) {
    foreach ($s in $Sites) {
        $begin, $end = "# BEGIN govhost $($s.sftp.user)", "# END govhost $($s.sftp.user)"
        $block = '(?ms)^' + [regex]::Escape($begin) + '\r?\n.*?^' + [regex]::Escape($end) + '\r?\n?'
        $Text = [regex]::Replace($Text, $block, '')
        if ($s.state -ne 'absent' -and $s.sftp.match.Count -gt 0) {
            if ($Text.Length -gt 0 -and -not $Text.EndsWith("`n")) { $Text += "`r`n" }
            $Text += (@($begin) + $s.sftp.match + @($end) | ForEach-Object { "$_`r`n" }) -join ''
        }
    }
    return $Text
}

function Test-Config([string]$Text) {
    $candidate = "$($p.sshd_config).govhost-new"
    [System.IO.File]::WriteAllText($candidate, $Text, (New-Object System.Text.UTF8Encoding $false))
    $out = & $p.sshd_path -t -f $candidate 2>&1
    $ok = $LASTEXITCODE -eq 0
    if (-not $ok) { Remove-Item -LiteralPath $candidate -Force }
    return $ok, "$out", $candidate
}

# ---- the run ----------------------------------------------------------------------------------------

try {
    Import-Module WebAdministration
} catch {
    $module.FailJson("IIS management scripting (WebAdministration) is not installed: $($_.Exception.Message)", $_)
}
if (@($p.sites | Where-Object { $_.state -ne 'absent' }).Count -gt 0) {
    try {
        Import-Module FileServerResourceManager
    } catch {
        $module.FailJson("File Server Resource Manager (FS-Resource-Manager) is not installed, so the sites' disk quotas" +
            " cannot be set: run the host's bootstrap again (it installs the feature): $($_.Exception.Message)", $_)
    }
}
if ($p.sftp -and -not (Test-Path -LiteralPath $p.keys_dir)) { [void][System.IO.Directory]::CreateDirectory($p.keys_dir) }

$undone = @{}  # site name -> its undo list, kept until the Match blocks are saved
foreach ($site in $p.sites) {
    $State.Undo = New-Object System.Collections.Generic.List[scriptblock]
    try {
        Assert-Entry $site
        $changed = if ($site.state -eq 'absent') { Remove-Site $site } else { Set-LiveSite $site }
        if ($changed) { $module.Result.changed = $true }
        $module.Result.applied += $site.name
        $undone[$site.name] = $State.Undo
    } catch {
        $why = $_.Exception.Message
        $left = Invoke-Undo
        if ($left.Count -gt 0) { $why += " (undoing it also failed: $($left -join '; '))" }
        $module.Result.failed_sites[$site.name] = $why
        $module.Result.archives.Remove($site.name)
    }
}

if ($p.sftp) {
    $done = @($p.sites | Where-Object { $module.Result.applied -contains $_.name })
    $old = [System.IO.File]::ReadAllText($p.sshd_config)
    $new = Get-Config $old $done
    if ($new -cne $old) {
        $ok, $out, $candidate = Test-Config $new
        if (-not $ok) {
            # Find the sites whose block sshd refuses, undo them, and save the others' blocks.
            $good = @()
            foreach ($s in $done) {
                $one, $why, $c = Test-Config (Get-Config $old @($s))
                if ($one) { Remove-Item -LiteralPath $c -Force ; $good += $s ; continue }
                $State.Undo = $undone[$s.name]
                $left = Invoke-Undo
                $msg = "sshd -t refused its Match block: $why"
                if ($left.Count -gt 0) { $msg += " (undoing it also failed: $($left -join '; '))" }
                $module.Result.failed_sites[$s.name] = $msg
                $module.Result.applied = @($module.Result.applied | Where-Object { $_ -ne $s.name })
                $module.Result.archives.Remove($s.name)
            }
            $done = $good
            $new = Get-Config $old $done
            $ok, $out, $candidate = if ($new -cne $old) { Test-Config $new } else { $true, '', $null }
            if (-not $ok) { $module.FailJson("sshd -t refused the sites' Match blocks together: $out") }
        }
        if ($null -ne $candidate) {
            Move-Item -LiteralPath $candidate -Destination $p.sshd_config -Force
            $module.Result.sshd_changed = $true
            $module.Result.changed = $true
        }
    }
    $module.Result.sftp_users = @($done | Where-Object { $_.state -ne 'absent' } | ForEach-Object { $_.sftp.user })
}

$module.ExitJson()
