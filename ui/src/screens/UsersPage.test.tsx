import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { ApiCallError } from "../api";
import { demoCompany, demoUsers } from "../testing/fakeApi";
import { renderWithApi, spyApi } from "../testing/render";
import type { User } from "../types";
import { PAGE_SIZE, UsersPage } from "./UsersPage";

function manyUsers(count: number): User[] {
  return Array.from({ length: count }, (_, i) => ({
    ...demoUsers[1]!,
    id: `id-${i}`,
    display_name: `User ${String(i).padStart(3, "0")}`,
    email: `user${i}@example.com`,
  }));
}

describe("Users tab", () => {
  it("renders one row per user from list_users with every column", async () => {
    const api = spyApi();
    renderWithApi(<UsersPage company={demoCompany} />, api);

    const rows = await screen.findAllByTestId("user-row");
    expect(rows, "every user the core returned is a row").toHaveLength(demoUsers.length);
    expect(api.listUsers, "the first page is requested with an empty query").toHaveBeenCalledWith("", 0, PAGE_SIZE);

    const table = screen.getByTestId("users-table");
    const headers = within(table)
      .getAllByRole("columnheader")
      .map((h) => h.textContent);
    expect(headers).toEqual(["Name", "Email", "Role", "Mobile phone", "2FA", "Status"]);

    const adminRow = rows[0]!;
    expect(adminRow).toHaveTextContent("Dana Whitfield");
    expect(adminRow).toHaveTextContent("admin@sunrise-motors.example");
    expect(adminRow).toHaveTextContent("Admin");
    expect(adminRow, "phones are shown readable, not raw E.164").toHaveTextContent("+1 (480) 555-1234");
    const cells = within(adminRow).getAllByRole("cell");
    expect(cells[4], "the admin has 2FA off").toHaveTextContent("Off");
    expect(within(rows[2]!).getAllByRole("cell")[4], "Priya has 2FA on").toHaveTextContent("On");
    expect(within(rows[4]!).getAllByRole("cell")[5], "Alicia is disabled").toHaveTextContent("Disabled");
    expect(screen.getByText("Showing 1–8 of 8")).toBeInTheDocument();
  });

  it("the 2FA column shows what the next sign-in requires, company switch and DMS included", async () => {
    const api = spyApi();
    const required = { ...demoCompany, two_factor_required: true };
    const { unmount } = renderWithApi(<UsersPage company={required} />, api);
    let rows = await screen.findAllByTestId("user-row");
    expect(within(rows[0]!).getAllByRole("cell")[4], "the company switch requires it of the admin too").toHaveTextContent(
      "Company",
    );
    expect(within(rows[2]!).getAllByRole("cell")[4], "Priya's own switch is on").toHaveTextContent("On");
    unmount();

    const noDms = { ...required, dms: { ...required.dms, supports_two_factor: false } };
    renderWithApi(<UsersPage company={noDms} />, api);
    rows = await screen.findAllByTestId("user-row");
    expect(
      within(rows[2]!).getAllByRole("cell")[4],
      "without DMS support no sign-in asks for a code, whatever the switches say",
    ).toHaveTextContent("Off");
  });

  it("a colleague whose phone and 2FA were withheld shows a dash there, never 'Not set' or 'Off'", async () => {
    const withheld: User = {
      ...demoUsers[5]!,
      mobile_phone: null,
      phone_verified_at: null,
      two_factor_enabled: false,
      security_withheld: true,
    };
    const api = spyApi({ users: [demoUsers[0]!, withheld] });
    renderWithApi(<UsersPage company={demoCompany} canEdit />, api);
    const rows = await screen.findAllByTestId("user-row");
    const cells = within(rows[1]!).getAllByRole("cell");
    expect(cells[3], "an unknown phone is not a missing one").toHaveTextContent("—");
    expect(cells[3]).not.toHaveTextContent("Not set");
    expect(cells[4], "an unknown 2FA state is not 'Off'").toHaveTextContent("—");
    expect(
      within(rows[1]!).getByTestId("user-edit"),
      "an edit cannot start from fields this computer does not have",
    ).toBeDisabled();
    expect(within(rows[0]!).getByTestId("user-edit"), "full rows stay editable").toBeEnabled();
    expect(within(rows[0]!).getAllByRole("cell")[3]).toHaveTextContent("+1 (480) 555-1234");
  });

  it("searching sends a new prefix query and shows its result", async () => {
    const api = spyApi();
    renderWithApi(<UsersPage company={demoCompany} />, api);
    await screen.findAllByTestId("user-row");

    await userEvent.setup().type(screen.getByTestId("users-search"), "pri");

    await waitFor(() => expect(api.listUsers, "the typed prefix reaches list_users").toHaveBeenCalledWith("pri", 0, PAGE_SIZE));
    await waitFor(() => expect(screen.getAllByTestId("user-row")).toHaveLength(1));
    expect(screen.getByTestId("user-row")).toHaveTextContent("Priya Raman");
    const queries = api.listUsers.mock.calls.map((c) => c[0]);
    expect(queries, "typing is debounced: no query per keystroke like 'p' or 'pr'").not.toContain("p");
  });

  it("shows the empty state when nothing matches", async () => {
    const api = spyApi();
    renderWithApi(<UsersPage company={demoCompany} />, api);
    await screen.findAllByTestId("user-row");

    await userEvent.setup().type(screen.getByTestId("users-search"), "zzz");

    const empty = await screen.findByTestId("users-empty");
    expect(empty).toHaveTextContent("No matching users");
    expect(empty).toHaveTextContent("zzz");
    expect(screen.queryAllByTestId("user-row")).toHaveLength(0);
    expect(screen.queryByText(/Showing/), "no paging text for zero results").toBeNull();
  });

  it("shows a first-sync hint when the company has no users at all", async () => {
    renderWithApi(<UsersPage company={demoCompany} />, spyApi({ users: [] }));
    expect(await screen.findByTestId("users-empty")).toHaveTextContent("No users yet");
  });

  it("shows the error from list_users and retries", async () => {
    const api = spyApi();
    api.listUsers.mockRejectedValueOnce(new ApiCallError("session_expired", "Your session has expired."));
    renderWithApi(<UsersPage company={demoCompany} />, api);

    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("Users could not be loaded");
    expect(alert).toHaveTextContent("Your session has expired.");
    expect(screen.queryByTestId("users-empty"), "an error is not 'no users'").toBeNull();

    await userEvent.setup().click(within(alert).getByRole("button", { name: "Try again" }));
    expect(await screen.findAllByTestId("user-row")).toHaveLength(demoUsers.length);
    expect(screen.queryByRole("alert")).toBeNull();
  });

  it("pages through results 50 at a time", async () => {
    const api = spyApi({ users: manyUsers(120) });
    renderWithApi(<UsersPage company={demoCompany} />, api);
    const user = userEvent.setup();

    expect(await screen.findAllByTestId("user-row")).toHaveLength(50);
    expect(screen.getByText("Showing 1–50 of 120")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Previous" })).toBeDisabled();

    await user.click(screen.getByRole("button", { name: "Next" }));
    await screen.findByText("Showing 51–100 of 120");
    expect(api.listUsers).toHaveBeenLastCalledWith("", 50, PAGE_SIZE);

    await user.click(screen.getByRole("button", { name: "Next" }));
    await screen.findByText("Showing 101–120 of 120");
    expect(screen.getAllByTestId("user-row")).toHaveLength(20);
    expect(screen.getByRole("button", { name: "Next" }), "no page after the last").toBeDisabled();
  });

  it("a new search starts again from the first page", async () => {
    const api = spyApi({ users: manyUsers(120) });
    renderWithApi(<UsersPage company={demoCompany} />, api);
    const user = userEvent.setup();
    await screen.findAllByTestId("user-row");
    await user.click(screen.getByRole("button", { name: "Next" }));
    await screen.findByText("Showing 51–100 of 120");

    await user.type(screen.getByTestId("users-search"), "user1");

    await waitFor(() => expect(api.listUsers).toHaveBeenLastCalledWith("user1", 0, PAGE_SIZE));
    expect(api.listUsers, "the old page offset must not be applied to the new query").not.toHaveBeenCalledWith("user1", 50, PAGE_SIZE);
  });

  it("has a labelled search box", async () => {
    renderWithApi(<UsersPage company={demoCompany} />, spyApi());
    expect(screen.getByLabelText("Search users")).toHaveAttribute("data-testid", "users-search");
    await screen.findAllByTestId("user-row");
  });
});
