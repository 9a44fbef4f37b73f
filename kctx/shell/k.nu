# k: kubectl with kctx's guard (kctx/guard). In a kctx shell a plain read runs the kubectl that
# the guard chose for this session at once, from the note "<session file>.k" (kctx/guard/fast.py:
# what it holds, and when it is trusted); everything else starts the guard with the Python that
# ran `kctx init`, with -I -S (no site scan: its .pth files cost up to 20 ms). Scripts, which do
# not load this, run the `k` command that pip, pipx or uv installed: the same guard. Builtins
# only on the fast path (ls -D for times, which for the executable bit, /proc for a live guard).

const __KCTX_K_CMD = @K_CMD@
const __KCTX_K_MAGIC = @K_MAGIC@
const __KCTX_K_TARGET = @K_TARGET@
const __KCTX_K_SKIP = @K_SKIP@
const __KCTX_K_INLINE = @K_INLINE@

# True when `a` is one of the flag patterns: a flag, or a flag and `*` for any value after it.
def __kctx_k_is [a: string, patterns: list<string>]: nothing -> bool {
    $patterns | any {|p|
        if ($p | str ends-with '*') { $a | str starts-with ($p | str trim -r -c '*') } else { $a == $p }
    }
}

# A file's modification time, or null when it is not there.
def __kctx_k_mtime [path: string] {
    try { ls -D $path | get 0.modified } catch { null }
}

# The kubectl to run when `args` is a read this shell may run without Python, else ''.
def __kctx_k_fast [args: list<string>]: nothing -> string {
    if ([$env.KCTX_IN_K? $env.KCTX_KUBECTL? $env.KCTX_NO_FAST?] | any {|v| ($v | default '') != '' }) { return '' }
    let kc = ($env.KUBECONFIG? | default '')
    let s = if ($kc | describe | str starts-with 'list') { $kc | get 0? | default '' } else {
        $kc | split row (char esep) | first
    }
    if $s == '' { return '' }
    let note = ($s + @K_NOTE@)
    let at = (__kctx_k_mtime $note)
    let session_at = (__kctx_k_mtime $s)
    if $at == null or ($session_at != null and $at <= $session_at) { return '' }
    let lines = (try { open --raw $note | decode utf-8 | lines } catch { return '' })
    if ($lines | length) < 4 or $lines.0 != $__KCTX_K_MAGIC { return '' }
    let x = $lines.1
    if ($x | str starts-with '/') == false or (which $x | is-empty) { return '' }
    if not ($lines.2 =~ '^[0-9]+$') { return '' }
    if ((date now | into int) // 1_000_000_000) >= ($lines.2 | into int) { return '' }
    for d in ($lines | skip 4) {
        let t = (__kctx_k_mtime $d)
        if $t != null and $at <= $t { return '' }
    }
    # A shell the API guard fronts (kctx/apiguard): a dead guard goes through Python, which restarts it.
    let guard = ($s + @K_GUARD@)
    if ($guard | path exists) {
        let pid = (try { open --raw $guard | decode utf-8 | split row -r '\s+' | first } catch { '' })
        if not ($pid =~ '^[0-9]+$') { return '' }
        let alive = if ('/proc/self' | path exists) { $"/proc/($pid)" | path exists } else {
            ps | where pid == ($pid | into int) | is-not-empty
        }
        if not $alive { return '' }
    }
    mut w = ''
    mut skip = false
    for a in $args {
        if $skip {
            $skip = false
            continue
        }
        if (__kctx_k_is $a $__KCTX_K_TARGET) { return '' }
        if $w != '' { continue }
        if (__kctx_k_is $a $__KCTX_K_SKIP) {
            $skip = true
        } else if (__kctx_k_is $a $__KCTX_K_INLINE) {
        } else if ($a | str starts-with '-') {
            return ''
        } else {
            $w = $a
        }
    }
    if $w == '' or $w not-in ($lines.3 | split row ' ') { return '' }
    $x
}

def --env --wrapped k [...args: string] {
    let x = (__kctx_k_fast $args)
    if $x != '' {
        with-env {KCTX_IN_K: '1', KCTX_KUBECTL: $x} { ^$x ...$args }
    } else if (which -a ($__KCTX_K_CMD | first) | where type == 'external' | is-not-empty) {
        ^($__KCTX_K_CMD | first) ...($__KCTX_K_CMD | skip 1) ...$args
    } else if (which -a k | where type == 'external' | is-not-empty) {
        ^k ...$args
    } else {
        print -e $"k: kctx's Python \(($__KCTX_K_CMD | first)\) is gone and no k is on PATH: reinstall kctx \(pipx install kctx\), then open a new shell"
        $env.LAST_EXIT_CODE = 127
    }
}
