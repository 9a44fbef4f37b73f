# k: kubectl with kctx's guard (kctx/guard). In a kctx shell a plain read runs the kubectl that
# the guard chose for this session at once, from the note "<session file>.k" (kctx/guard/fast.py:
# what it holds, and when it is trusted); everything else starts the guard with the Python that
# ran `kctx init`, with -I -S (no site scan: its .pth files cost up to 20 ms). Scripts, which do
# not load this, run the `k` command that pip, pipx or uv installed: the same guard.

set -g __kctx_k_cmd @K_CMD@

# Prints the kubectl to run when $argv is a read this shell may run without Python.
function __kctx_k_fast
    test -z "$KCTX_IN_K$KCTX_KUBECTL$KCTX_NO_FAST" -a -n "$KUBECONFIG"; or return 1
    builtin -q path; or return 1  # fish 3.5+: the clock, without a fork
    set -l s (string split -m1 -- : "$KUBECONFIG")[1]
    test "$s"@K_NOTE@ -nt "$s"; or return 1
    set -l note
    while read -l line
        set -a note $line
    end <"$s"@K_NOTE@
    test (count $note) -ge 4 -a "$note[1]" = @K_MAGIC@; and test -x "$note[2]"; or return 1
    string match -qr '^[0-9]+$' -- "$note[3]"; or return 1
    set -l now (math (path mtime -- "$s"@K_NOTE@) + (path mtime -R -- "$s"@K_NOTE@))
    test "$now" -lt "$note[3]"; or return 1
    for d in $note[5..-1]
        if test -e "$d"; and not test "$s"@K_NOTE@ -nt "$d"
            return 1
        end
    end
    # A shell the API guard fronts (kctx/apiguard): a dead guard goes through Python, which restarts it.
    if test -e "$s"@K_GUARD@
        read -l g rest <"$s"@K_GUARD@ 2>/dev/null; or return 1
        string match -qr '^[0-9]+$' -- "$g"; and command kill -0 $g 2>/dev/null; or return 1
    end
    set -l w
    set -l skip
    for a in $argv
        if test -n "$skip"
            set skip
            continue
        end
        switch $a
            case @K_TARGET@
                return 1
        end
        test -z "$w"; or continue
        switch $a
            case @K_SKIP@
                set skip 1
            case @K_INLINE@
            case '-*'
                return 1
            case '*'
                set w $a
        end
    end
    test -n "$w"; and contains -- $w (string split ' ' -- $note[4]); or return 1
    echo $note[2]
end

function k
    set -l x (__kctx_k_fast $argv)
    if test -n "$x"
        KCTX_IN_K=1 KCTX_KUBECTL=$x command $x $argv
    else if test -x "$__kctx_k_cmd[1]"
        command $__kctx_k_cmd $argv
    else if command -q k
        command k $argv
    else
        printf '%s\n' "k: kctx's Python ($__kctx_k_cmd[1]) is gone and no k is on PATH: reinstall kctx (pipx install kctx), then open a new shell" >&2
        return 127
    end
end
