// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/**
 * @title ModelRegistry
 * @notice Names of models and their versions. The first account to register a name owns it; the owner
 * and the publishers it approves add versions. A version points at a signed manifest by its CID, names
 * the versions it derives from (lineage) and its licence terms. Versions are immutable and identified
 * by a global id (starting at 1) and by name and label; they can only be deprecated. Every change emits
 * an event indexed by the hash of the name (`keccak256(bytes(name))`), so the whole history of a model
 * is one `eth_getLogs` filter away.
 */
contract ModelRegistry {
    uint256 public constant MAX_NAME_LENGTH = 128;
    uint256 public constant MAX_LABEL_LENGTH = 64;
    uint256 public constant MAX_PARENTS = 16;

    struct Model {
        address owner;
        uint64 registeredAt;
        string name;
        uint256[] versionIds;
    }

    struct Version {
        bytes32 nameHash;
        address publisher;
        uint64 publishedAt;
        bool deprecated;
        string label;
        string manifestCid;
        string license;
        uint256[] parents;
    }

    /// @notice A version as returned by {version}: the stored record plus its model's name.
    struct VersionView {
        uint256 id;
        string name;
        string label;
        string manifestCid;
        string license;
        uint256[] parents;
        address publisher;
        uint64 publishedAt;
        bool deprecated;
    }

    mapping(bytes32 nameHash => Model) private _models;
    mapping(bytes32 nameHash => mapping(address account => bool)) private _publishers;
    mapping(bytes32 nameHash => mapping(bytes32 labelHash => uint256)) private _versionIdByLabel;
    /// @dev Version `id` is stored at index `id - 1`.
    Version[] private _versions;

    event ModelRegistered(bytes32 indexed nameHash, address indexed owner, string name);
    event VersionAdded(
        bytes32 indexed nameHash,
        uint256 indexed versionId,
        address indexed publisher,
        string label,
        string manifestCid,
        uint256[] parents,
        string license
    );
    event VersionDeprecated(bytes32 indexed nameHash, uint256 indexed versionId, address indexed actor, string reason);
    event PublisherApproved(bytes32 indexed nameHash, address indexed publisher, address indexed actor);
    event PublisherRevoked(bytes32 indexed nameHash, address indexed publisher, address indexed actor);
    event ModelTransferred(bytes32 indexed nameHash, address indexed previousOwner, address indexed newOwner);

    error InvalidName(string name);
    error InvalidVersionLabel(string label);
    error InvalidManifestCid(string manifestCid);
    error InvalidAccount(address account);
    error NameTaken(string name, address owner);
    error UnknownModel(string name);
    error NotNameOwner(string name, address caller);
    error NotPublisher(string name, address caller);
    error VersionExists(string name, string label, uint256 versionId);
    error UnknownVersion(uint256 versionId);
    error TooManyParents(uint256 count, uint256 max);
    error AlreadyDeprecated(uint256 versionId);

    modifier onlyNameOwner(string calldata name) {
        address owner = _models[keccak256(bytes(name))].owner;
        if (owner == address(0)) revert UnknownModel(name);
        if (owner != msg.sender) revert NotNameOwner(name, msg.sender);
        _;
    }

    // ------------------------------------------------------------------ writes

    /// @notice Registers `name` to the caller.
    function register(string calldata name) external {
        _register(name);
    }

    /**
     * @notice Adds version `label` of `name`. Only the owner of the name or an approved publisher may.
     * @param parents ids of the versions this one derives from (each must exist; at most MAX_PARENTS).
     * @return id the new version's id.
     */
    function addVersion(
        string calldata name,
        string calldata label,
        string calldata manifestCid,
        uint256[] calldata parents,
        string calldata license
    ) external returns (uint256 id) {
        return _addVersion(name, label, manifestCid, parents, license);
    }

    /// @notice {register}s `name` to the caller if nobody owns it yet, then {addVersion}. One transaction.
    function publish(
        string calldata name,
        string calldata label,
        string calldata manifestCid,
        uint256[] calldata parents,
        string calldata license
    ) external returns (uint256 id) {
        if (_models[keccak256(bytes(name))].owner == address(0)) _register(name);
        return _addVersion(name, label, manifestCid, parents, license);
    }

    /// @notice Lets `publisher` add versions of `name`. Owner only.
    function approvePublisher(string calldata name, address publisher) external onlyNameOwner(name) {
        if (publisher == address(0)) revert InvalidAccount(publisher);
        bytes32 nameHash = keccak256(bytes(name));
        _publishers[nameHash][publisher] = true;
        emit PublisherApproved(nameHash, publisher, msg.sender);
    }

    /// @notice Withdraws the approval of `publisher`. Owner only.
    function revokePublisher(string calldata name, address publisher) external onlyNameOwner(name) {
        bytes32 nameHash = keccak256(bytes(name));
        _publishers[nameHash][publisher] = false;
        emit PublisherRevoked(nameHash, publisher, msg.sender);
    }

    /// @notice Gives `name` to `newOwner`. Owner only. Approved publishers stay approved.
    function transferModel(string calldata name, address newOwner) external onlyNameOwner(name) {
        if (newOwner == address(0)) revert InvalidAccount(newOwner);
        bytes32 nameHash = keccak256(bytes(name));
        _models[nameHash].owner = newOwner;
        emit ModelTransferred(nameHash, msg.sender, newOwner);
    }

    /// @notice Marks a version as deprecated (it stays resolvable). Owner of its name only.
    function deprecateVersion(uint256 id, string calldata reason) external {
        Version storage v = _version(id);
        Model storage m = _models[v.nameHash];
        if (m.owner != msg.sender) revert NotNameOwner(m.name, msg.sender);
        if (v.deprecated) revert AlreadyDeprecated(id);
        v.deprecated = true;
        emit VersionDeprecated(v.nameHash, id, msg.sender, reason);
    }

    // ------------------------------------------------------------------- views

    /// @notice The owner of `name`, or the zero address if it is not registered.
    function ownerOf(string calldata name) external view returns (address) {
        return _models[keccak256(bytes(name))].owner;
    }

    function ownerOfHash(bytes32 nameHash) external view returns (address) {
        return _models[nameHash].owner;
    }

    function nameOfHash(bytes32 nameHash) external view returns (string memory) {
        return _models[nameHash].name;
    }

    /// @notice Whether `account` may add versions of `name` (its owner or an approved publisher).
    function isPublisher(string calldata name, address account) public view returns (bool) {
        bytes32 nameHash = keccak256(bytes(name));
        address owner = _models[nameHash].owner;
        return owner != address(0) && (owner == account || _publishers[nameHash][account]);
    }

    /// @notice Ids of every version of `name`, oldest first.
    function versionsOf(string calldata name) external view returns (uint256[] memory) {
        return _models[keccak256(bytes(name))].versionIds;
    }

    /// @notice The id of `name@label`, or 0.
    function versionId(string calldata name, string calldata label) external view returns (uint256) {
        return _versionIdByLabel[keccak256(bytes(name))][keccak256(bytes(label))];
    }

    /// @notice The newest version of `name` that is not deprecated, or 0.
    function latest(string calldata name) external view returns (uint256) {
        return latestOfHash(keccak256(bytes(name)));
    }

    function latestOfHash(bytes32 nameHash) public view returns (uint256) {
        uint256[] storage ids = _models[nameHash].versionIds;
        for (uint256 i = ids.length; i > 0; i--) {
            if (!_versions[ids[i - 1] - 1].deprecated) return ids[i - 1];
        }
        return 0;
    }

    function version(uint256 id) external view returns (VersionView memory) {
        Version storage v = _version(id);
        return VersionView({
            id: id,
            name: _models[v.nameHash].name,
            label: v.label,
            manifestCid: v.manifestCid,
            license: v.license,
            parents: v.parents,
            publisher: v.publisher,
            publishedAt: v.publishedAt,
            deprecated: v.deprecated
        });
    }

    /// @notice What the marketplace needs to walk lineage: the version's name hash, that name's
    /// current owner, and the version's parents.
    function lineageOf(uint256 id) external view returns (bytes32 nameHash, address owner, uint256[] memory parents) {
        Version storage v = _version(id);
        return (v.nameHash, _models[v.nameHash].owner, v.parents);
    }

    /// @notice Number of versions ever added; ids run from 1 to this.
    function versionCount() external view returns (uint256) {
        return _versions.length;
    }

    // ---------------------------------------------------------------- internal

    function _register(string calldata name) private {
        uint256 length = bytes(name).length;
        if (length == 0 || length > MAX_NAME_LENGTH) revert InvalidName(name);
        bytes32 nameHash = keccak256(bytes(name));
        Model storage m = _models[nameHash];
        if (m.owner != address(0)) revert NameTaken(name, m.owner);
        m.owner = msg.sender;
        m.registeredAt = uint64(block.timestamp);
        m.name = name;
        emit ModelRegistered(nameHash, msg.sender, name);
    }

    function _addVersion(
        string calldata name,
        string calldata label,
        string calldata manifestCid,
        uint256[] calldata parents,
        string calldata license
    ) private returns (uint256 id) {
        bytes32 nameHash = _checkNewVersion(name, label, manifestCid, parents);
        id = _storeVersion(nameHash, label, manifestCid, parents, license);
        emit VersionAdded(nameHash, id, msg.sender, label, manifestCid, parents, license);
    }

    function _checkNewVersion(string calldata name, string calldata label, string calldata manifestCid, uint256[] calldata parents)
        private
        view
        returns (bytes32 nameHash)
    {
        nameHash = keccak256(bytes(name));
        address owner = _models[nameHash].owner;
        if (owner == address(0)) revert UnknownModel(name);
        if (owner != msg.sender && !_publishers[nameHash][msg.sender]) revert NotPublisher(name, msg.sender);
        if (bytes(label).length == 0 || bytes(label).length > MAX_LABEL_LENGTH) revert InvalidVersionLabel(label);
        if (bytes(manifestCid).length == 0) revert InvalidManifestCid(manifestCid);
        uint256 existing = _versionIdByLabel[nameHash][keccak256(bytes(label))];
        if (existing != 0) revert VersionExists(name, label, existing);
        if (parents.length > MAX_PARENTS) revert TooManyParents(parents.length, MAX_PARENTS);
        for (uint256 i = 0; i < parents.length; i++) {
            if (parents[i] == 0 || parents[i] > _versions.length) revert UnknownVersion(parents[i]);
        }
    }

    function _storeVersion(
        bytes32 nameHash,
        string calldata label,
        string calldata manifestCid,
        uint256[] calldata parents,
        string calldata license
    ) private returns (uint256 id) {
        id = _versions.length + 1;
        Version storage v = _versions.push();
        v.nameHash = nameHash;
        v.publisher = msg.sender;
        v.publishedAt = uint64(block.timestamp);
        v.label = label;
        v.manifestCid = manifestCid;
        v.license = license;
        v.parents = parents;
        _models[nameHash].versionIds.push(id);
        _versionIdByLabel[nameHash][keccak256(bytes(label))] = id;
    }

    function _version(uint256 id) private view returns (Version storage) {
        if (id == 0 || id > _versions.length) revert UnknownVersion(id);
        return _versions[id - 1];
    }
}
