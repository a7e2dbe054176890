"""A real browser through the sandbox's SOCKS proxy: Chromium opens the ALB's DNS name of a built
stack (it resolves names through a SOCKS5 proxy) and shows the page of the container that
answered - which task, instance and host port. The screenshot's path is printed (`pytest -s`)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from helpers.resources.ecs import task_bindings
from helpers.stack import StackSpec, build_stack
from helpers.waiters import wait_for_service
from test_browser import CHROMIUM, CHROMIUM_ARGS, browser_available, screenshot, sync_playwright  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

PAGE = re.compile(r"Hello from task (?P<task>\S+)\ninstance (?P<instance>\S+), host port (?P<host_port>\d+)"
                  r" -> container \S+:(?P<container_port>\d+)")


def test_chromium_through_the_socks_proxy_shows_a_containers_page(region):
    clients = region.clients()
    stack = build_stack(clients, StackSpec(name="browser"))
    wait_for_service(clients, stack, timeout=120, progress=False)
    proxy = urlsplit(region.socks_proxy)  # socks5h://127.0.0.1:PORT
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=CHROMIUM_ARGS + [f"--proxy-server=socks5://{proxy.hostname}:{proxy.port}"])
        try:
            page = browser.new_page()
            response = page.goto(f"http://{stack.alb_dns_name}/", timeout=60_000)
            text = page.inner_text("body")
            screenshot(page, "alb-page-through-socks")
        finally:
            browser.close()
    assert response is not None and response.status == 200, text
    shown = PAGE.search(text)
    assert shown is not None, text
    running = {(b.task_id, b.instance_id, b.host_port, b.container_port)
               for b in task_bindings(clients, stack.cluster_name, stack.service_name)}
    assert (shown["task"][:8], shown["instance"], shown["host_port"], shown["container_port"]) in running
