"""tools/benchcharts.py: every figure printed beside its target, and the
charts drawn headless (Agg) as PNG files, one per group."""
from tools import benchcharts

FIGURES = {"boot_to_prompt": 40000000, "bootloader": 30000000, "kernel_start": 6000000,
           "prod_boot_to_prompt": 29000000, "prod_kernel_start": 4000000, "sha256_per_byte": 30.32,
           "task_start": 250000, "kernel_syscall": 12000, "switch_itself": 188.6,
           "gw_pacs_ms": 2.5, "gw_http_ms": 12.5, "gw_http_parse_ms": 9.0, "gw_http_bytes": 4483,
           "gw_fix_tcp_ms": 0.45,
           "ledger_durable_batch100_us": 15}


def test_targets_table_says_which_are_met(capsys):
    benchcharts.print_targets(FIGURES)
    out = capsys.readouterr().out
    line = [ln for ln in out.splitlines() if "kernel start to qenex>, production" in ln][0]
    assert "4,000,000" in line and "<= 5,000,000" in line and "| yes" in line
    line = [ln for ln in out.splitlines() if "kernel start to qenex>, test image" in ln][0]
    assert "6,000,000" in line and "| no" in line
    line = [ln for ln in out.splitlines() if "reset to qenex> (signature checked), test" in ln][0]
    assert "| no" in line
    line = [ln for ln in out.splitlines() if "reset to qenex> (signature checked), production" in ln][0]
    assert "29,000,000" in line and "| yes" in line
    line = [ln for ln in out.splitlines() if "bootloader's: mbedtls + OpenSSL" in ln][0]
    assert "30.3" in line and "<= 25" in line and "| no" in line
    assert "not measured" in [ln for ln in out.splitlines() if "mbedtls's C, -O2" in ln][0]
    line = [ln for ln in out.splitlines() if "pacs.008 (4.5 KB) over HTTP" in ln][0]
    assert "12,500,000" in line and "<= 3,000,000" in line and "| no" in line
    line = [ln for ln in out.splitlines() if "XML parse, instructions a byte" in ln][0]
    assert "2,007" in line and "<= 300" in line and "| no" in line          # 9 ms of 4,483 bytes
    line = [ln for ln in out.splitlines() if "ExecutionReport over TCP" in ln][0]
    assert "450,000" in line and "<= 500,000" in line and "| yes" in line
    line = [ln for ln in out.splitlines() if "over the host link (UART)" in ln][0]
    assert "2,500,000" in line and "| -" in line
    assert "not measured" in [ln for ln in out.splitlines() if "IPC round trip" in ln][0]
    line = [ln for ln in out.splitlines() if "the switch itself" in ln][0]
    assert "188.6" in line and "<= 200" in line and "| yes" in line
    assert "FreeRTOS-MPU 97, bare floor, 4 MPU regions 20.5" in line


def test_what_the_board_ran_is_the_figure_where_it_was_counted(capsys):
    benchcharts.print_targets(dict(FIGURES, gw_http_ran=2900000, gw_fix_tcp_ran=600000))
    out = capsys.readouterr().out
    line = [ln for ln in out.splitlines() if "pacs.008 (4.5 KB) over HTTP" in ln][0]
    assert "2,900,000" in line and "| yes" in line
    line = [ln for ln in out.splitlines() if "ExecutionReport over TCP" in ln][0]
    assert "600,000" in line and "| no" in line


def test_charts_are_png_files(tmp_path):
    paths = benchcharts.draw(FIGURES, str(tmp_path))
    assert sorted(p.rsplit("/", 1)[1] for p in paths) == ["boot.png", "kernel.png", "services.png", "sha256.png"]
    for p in paths:
        with open(p, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_a_failing_chart_does_not_fail_the_bench(capsys, monkeypatch):
    def broken(f, out_dir=None):
        raise RuntimeError("no backend")
    monkeypatch.setattr(benchcharts, "draw", broken)
    benchcharts.report(FIGURES)
    assert "chart: not drawn (RuntimeError: no backend)" in capsys.readouterr().out
