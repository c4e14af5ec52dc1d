#!powershell
# govhost_iis_usage: the disk usage of every site of one IIS host in ONE module call, and old
# archives pruned (docs: govhost_iis_usage.yml, docs/windows.md). It has never run on Windows here
# (no Windows, no PowerShell on the build machine): the wire tests check what is sent to it.

#AnsibleRequires -CSharpUtil Ansible.Basic

$spec = @{
    options = @{
        sites = @{
            type = 'list'; elements = 'dict'; required = $true
            options = @{ name = @{ type = 'str'; required = $true }; path = @{ type = 'str'; required = $true } }
        }
        root = @{ type = 'str'; required = $true }
        archive_days = @{ type = 'int'; default = 30 }
    }
    supports_check_mode = $true
}
$module = [Ansible.Basic.AnsibleModule]::Create($args, $spec)
$ErrorActionPreference = 'Stop'

$Root = $module.Params.root.TrimEnd('\') + '\'
$Reparse = [System.IO.FileAttributes]::ReparsePoint

function Get-FolderBytes([string]$Path) {
    # A walk of our own: Get-ChildItem -Recurse would follow junctions a site's code could plant.
    $total = [long]0
    $todo = New-Object System.Collections.Generic.Stack[System.IO.DirectoryInfo]
    $todo.Push((New-Object System.IO.DirectoryInfo $Path))
    while ($todo.Count -gt 0) {
        $dir = $todo.Pop()
        try { $entries = $dir.GetFileSystemInfos() } catch { continue }  # a folder we may not read
        foreach ($e in $entries) {
            if (($e.Attributes -band $Reparse) -eq $Reparse) { continue }
            if ($e -is [System.IO.DirectoryInfo]) { $todo.Push($e) } else { $total += $e.Length }
        }
    }
    return $total
}

$usage = @{}
foreach ($site in $module.Params.sites) {
    $path = $site.path
    if (-not $path.StartsWith($Root, [StringComparison]::OrdinalIgnoreCase) -or $path.Contains('..')) {
        $module.FailJson("refused folder '$path' of $($site.name) (outside $Root)")
    }
    $bytes = if (Test-Path -LiteralPath $path -PathType Container) { Get-FolderBytes $path } else { 0 }
    $usage[$site.name] = [math]::Round($bytes / 1MB, 2)
}

$pruned = @()
$archive = Join-Path $Root 'archive'
if (Test-Path -LiteralPath $archive -PathType Container) {
    $cutoff = (Get-Date).AddDays(-$module.Params.archive_days)
    foreach ($zip in (Get-ChildItem -LiteralPath $archive -Filter '*.zip' -File)) {
        if ($zip.LastWriteTime -lt $cutoff) {
            if (-not $module.CheckMode) { Remove-Item -LiteralPath $zip.FullName -Force }
            $pruned += $zip.Name
        }
    }
}

$module.Result.usage_mb = $usage
$module.Result.pruned = $pruned
$module.Result.changed = $pruned.Count -gt 0
$module.ExitJson()
